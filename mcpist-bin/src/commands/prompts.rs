//! `mcpist prompts add|list|show|remove`: the user's prompts kept in the
//! store, served as `my_NAME` next to the config file's `[prompts.NAME]`
//! (which wins a name both define).

use std::{
    collections::BTreeMap,
    io::{IsTerminal, Read},
};

use anyhow::{Context, Result, bail};
use mcpist_core::prompts::{self, UserArgument, UserPrompt};

use crate::{
    cli::PromptsCommand,
    config::{Loaded, StoreKind},
    wiring,
};

/// Runs one `prompts` subcommand.
pub(crate) async fn run(loaded: &Loaded, cmd: PromptsCommand) -> Result<()> {
    let configured = &loaded.config.prompts;
    let changes = matches!(
        cmd,
        PromptsCommand::Add { .. } | PromptsCommand::Remove { .. }
    );
    if changes && loaded.config.store.kind == StoreKind::Memory {
        bail!(
            "[store] kind = \"memory\" keeps nothing between runs, so a saved prompt would be lost; \
             write it in the config file as [prompts.NAME] instead"
        );
    }
    match cmd {
        PromptsCommand::Add {
            name,
            description,
            file,
            args,
            replace,
        } => {
            if configured.contains_key(&name) {
                bail!(
                    "a prompt {name} is defined in {} ([prompts.{name}]), which would win; \
                     choose another name or edit it there",
                    loaded.source_of("prompts")
                );
            }
            let arguments = args
                .iter()
                .map(|a| UserArgument::parse(a).map_err(|e| anyhow::anyhow!("--arg: {e}")))
                .collect::<Result<Vec<_>>>()?;
            let text = match file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                None => read_text()?,
            };
            let text = text.trim_end().to_owned();
            if text.trim().is_empty() {
                bail!("the prompt's text is empty");
            }
            if description.chars().any(char::is_control) {
                bail!("--description must be a single line");
            }
            let prompt = UserPrompt {
                description,
                text,
                arguments,
            };
            let (stores, _) = wiring::open_store(loaded, true)?;
            let replaced = prompts::save(
                stores.tokens.as_ref(),
                stores.audit.as_ref(),
                &name,
                prompt,
                replace,
            )
            .await?;
            eprintln!(
                "{} the prompt my_{name} in the store; `mcpist serve` serves it from its next start",
                if replaced { "replaced" } else { "saved" }
            );
            Ok(())
        }
        PromptsCommand::List { json } => {
            let (stores, _) = wiring::open_store(loaded, false)?;
            let saved = prompts::load_saved(stores.tokens.as_ref()).await?;
            let rows = listing(configured, &saved);
            if json {
                let rows: Vec<_> = rows
                    .iter()
                    .map(|(name, from, prompt)| {
                        serde_json::json!({
                            "name": format!("my_{name}"),
                            "from": from,
                            "description": prompt.description,
                            "arguments": prompt.arguments,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                eprintln!("no prompts; add one with `mcpist prompts add NAME --arg ARG < text.md`");
            } else {
                for (name, from, prompt) in rows {
                    println!(
                        "my_{name}\t{from}\t{}\t{}",
                        arguments_line(&prompt.arguments),
                        prompt.description
                    );
                }
            }
            Ok(())
        }
        PromptsCommand::Show { name } => {
            let (stores, _) = wiring::open_store(loaded, false)?;
            let saved = prompts::load_saved(stores.tokens.as_ref()).await?;
            let Some((_, from, prompt)) = listing(configured, &saved)
                .into_iter()
                .find(|(n, _, _)| **n == name)
            else {
                bail!("no prompt {name}; `mcpist prompts list` shows them");
            };
            println!("name: my_{name}");
            println!("from: {from}");
            println!("description: {}", prompt.description);
            println!("arguments: {}", arguments_line(&prompt.arguments));
            println!();
            println!("{}", prompt.text);
            Ok(())
        }
        PromptsCommand::Remove { name } => {
            let (stores, _) = wiring::open_store(loaded, false)?;
            let saved = prompts::load_saved(stores.tokens.as_ref()).await?;
            if !saved.contains_key(&name) && configured.contains_key(&name) {
                bail!(
                    "the prompt {name} is defined in {} ([prompts.{name}]), not in the store; remove it there",
                    loaded.source_of("prompts")
                );
            }
            prompts::remove(stores.tokens.as_ref(), stores.audit.as_ref(), &name).await?;
            eprintln!(
                "removed the prompt my_{name} from the store; `mcpist serve` stops serving it at its next start"
            );
            Ok(())
        }
    }
}

/// The text of a prompt from standard input, until end of input.
fn read_text() -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Type the prompt's text; end it with Ctrl-D on a line of its own:");
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .context("cannot read the prompt's text from standard input")?;
    Ok(text)
}

/// Every prompt served, by name, with where it comes from: the config file
/// wins a name both define, as `mcpist serve` does.
fn listing<'a>(
    configured: &'a BTreeMap<String, UserPrompt>,
    saved: &'a BTreeMap<String, UserPrompt>,
) -> Vec<(&'a String, &'static str, &'a UserPrompt)> {
    let mut rows: BTreeMap<&String, (&'static str, &UserPrompt)> = saved
        .iter()
        .map(|(name, prompt)| (name, ("store", prompt)))
        .collect();
    for (name, prompt) in configured {
        rows.insert(name, ("config", prompt));
    }
    rows.into_iter()
        .map(|(name, (from, prompt))| (name, from, prompt))
        .collect()
}

/// `url, focus (optional)`, or `-` for none.
fn arguments_line(arguments: &[UserArgument]) -> String {
    if arguments.is_empty() {
        return "-".into();
    }
    arguments
        .iter()
        .map(|a| {
            if a.required {
                a.name.clone()
            } else {
                format!("{} (optional)", a.name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
