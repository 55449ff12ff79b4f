//! A fresh PostgreSQL database per test, for the PostgreSQL store's tests.
//!
//! The server is `MCPIST_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, the one `.ci/run` starts);
//! each [`TempDatabase`] is a new database with a random name, dropped when
//! the value is.

use secrecy::{ExposeSecret, SecretString};

/// Where the test server is, unless `MCPIST_TEST_PG_URL` says otherwise.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for one test and dropped with this value.
#[derive(Debug)]
pub struct TempDatabase {
    admin_url: String,
    name: String,
    url: SecretString,
}

fn admin_url() -> String {
    std::env::var("MCPIST_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL tests need a server at {url} (start it: `pg_ctlcluster \
                 --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set \
                 MCPIST_TEST_PG_URL): {e}"
            )
        });
    tokio::spawn(connection);
    client
}

impl TempDatabase {
    /// Creates `mcpist_test_<random>` on the test server. Panics, saying how
    /// to start one, when there is no server.
    pub async fn create() -> Self {
        let admin_url = admin_url();
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("randomness");
        let name = format!("mcpist_test_{:016x}", u64::from_le_bytes(bytes));
        admin(&admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        let mut url = url::Url::parse(&admin_url).expect("MCPIST_TEST_PG_URL is a URL");
        url.set_path(&name);
        Self {
            admin_url,
            name,
            url: SecretString::from(url.to_string()),
        }
    }

    /// The URL of the new database.
    pub fn url(&self) -> SecretString {
        self.url.clone()
    }

    /// The URL as plain text, for configs and environment variables of child processes.
    pub fn url_text(&self) -> String {
        self.url.expose_secret().to_owned()
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime, which cannot block on another one.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let _ = admin(&admin_url)
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}
