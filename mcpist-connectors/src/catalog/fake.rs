//! Fakes of the catalog services' upstream APIs (feature `fake`), each built
//! from the service's vendored description (`vendor/SERVICE/`): its paths,
//! shapes, status codes and error bodies.

pub mod airtable;
pub mod asana;
pub mod google_calendar;
pub mod google_oauth;
pub mod google_tasks;
pub mod microsoft_todo;
pub mod supabase;
pub mod ticktick;
pub mod todoist;
