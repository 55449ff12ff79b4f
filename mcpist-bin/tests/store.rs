//! The store seen through the real `mcpist` binary: a master key derived from
//! a passphrase, damaged records and damaged files.

use std::{
    io::{Read, Write},
    path::Path,
    process::Stdio,
};

use mcpist_tests::canary;

mod support;

use support::{BIN, Home, contains, stderr, stdio_calls, text};

const PASSPHRASE_CONFIG: &str = "[store]\nkey = \"passphrase\"\n";

fn add_token_args(account: &str) -> Vec<&str> {
    vec![
        "accounts",
        "add",
        "github",
        "--account",
        account,
        "--token-stdin",
        "--no-verify",
    ]
}

/// The key derivation parameters the store keeps in its `meta` table.
fn stored_kdf(db: &Path) -> Option<serde_json::Value> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let bytes: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE name = 'kdf'", [], |r| {
            r.get(0)
        })
        .ok();
    bytes.map(|b| serde_json::from_slice(&b).unwrap())
}

#[test]
fn a_passphrase_store_opens_with_its_passphrase_only_and_keeps_no_key_file() {
    let home = Home::new();
    home.write_config(PASSPHRASE_CONFIG);
    let pass = "correct horse battery staple 7f3a";
    let env = [("MCPIST_PASSPHRASE", pass)];
    let init = home.run_input_ok(&env, &["init"], "");
    assert!(stderr(&init).contains("derived from the passphrase"));
    assert!(!home.data_dir().join("master.key").exists());
    let token = canary("pass");
    home.run_input_ok(&env, &add_token_args("work"), &token);
    let listed = home.run_input_ok(&env, &["accounts", "list"], "");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("work"));

    // The salt and the cost sit beside the records, in the clear; the
    // passphrase and the token are nowhere on disk.
    let kdf = stored_kdf(&home.db()).expect("kdf parameters stored");
    assert_eq!(kdf["algorithm"], "argon2id");
    assert_eq!(kdf["m_kib"], 65536);
    assert_eq!(kdf["t"], 3);
    assert_eq!(kdf["p"], 4);
    let data = home.data_bytes();
    assert!(!contains(&data, &token) && !contains(&data, pass));

    // Wrong passphrase: refused by the key check, nothing written.
    let before = std::fs::read(home.db()).unwrap();
    for args in [
        &["accounts", "list"][..],
        &["serve", "--stdio"],
        &["bearer", "show"],
    ] {
        let out = home.run_input(
            &[("MCPIST_PASSPHRASE", "correct horse battery staple 7f3b")],
            args,
            "",
        );
        assert!(
            !out.status.success(),
            "{args:?} opened with a wrong passphrase"
        );
        assert!(
            stderr(&out).contains("the passphrase is wrong"),
            "{}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
        assert!(!contains(&out.stderr, pass) && !contains(&out.stderr, "7f3b"));
    }
    assert_eq!(std::fs::read(home.db()).unwrap(), before);

    // No passphrase and no terminal to ask at: a clear error, not a hang.
    let out = home.run_input(&[], &["accounts", "list"], "");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("MCPIST_PASSPHRASE") && err.contains("not a terminal"),
        "{err}"
    );
    // The same store read as a key-file store says what it is.
    home.write_config("");
    let out = home.run_input(
        &[(
            "MCPIST_MASTER_KEY",
            "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8A=",
        )],
        &["accounts", "list"],
        "",
    );
    assert!(
        stderr(&out).contains("sealed with a passphrase"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(home.db()).unwrap(), before);
}

#[test]
fn key_rotate_changes_the_passphrase_and_moves_a_key_file_store_to_one() {
    let home = Home::new();
    home.run_input_ok(&[], &["init"], "");
    let token = canary("topass");
    home.run_input_ok(&[], &add_token_args("work"), &token);
    let bearer = home.run_input_ok(&[], &["bearer", "show"], "").stdout;

    let first = [("MCPIST_NEW_PASSPHRASE", "first passphrase")];
    let out = home.run_input_ok(&first, &["key", "rotate", "--to-passphrase"], "");
    assert!(
        stderr(&out).contains("key = \"passphrase\""),
        "{}",
        stderr(&out)
    );
    let salt = stored_kdf(&home.db()).unwrap()["salt"].clone();
    // The key file no longer opens it, and says why.
    let out = home.run_input(&[], &["accounts", "list"], "");
    assert!(
        stderr(&out).contains("sealed with a passphrase"),
        "{}",
        stderr(&out)
    );

    home.write_config(PASSPHRASE_CONFIG);
    let env = [("MCPIST_PASSPHRASE", "first passphrase")];
    assert_eq!(
        home.run_input_ok(&env, &["bearer", "show"], "").stdout,
        bearer
    );

    // A new passphrase, a new salt; the old passphrase is refused.
    home.run_input_ok(
        &[
            ("MCPIST_PASSPHRASE", "first passphrase"),
            ("MCPIST_NEW_PASSPHRASE", "second passphrase"),
        ],
        &["key", "rotate"],
        "",
    );
    assert_ne!(stored_kdf(&home.db()).unwrap()["salt"], salt);
    let out = home.run_input(&env, &["accounts", "list"], "");
    assert!(
        stderr(&out).contains("the passphrase is wrong"),
        "{}",
        stderr(&out)
    );
    let env = [("MCPIST_PASSPHRASE", "second passphrase")];
    assert_eq!(
        home.run_input_ok(&env, &["bearer", "show"], "").stdout,
        bearer
    );
    let audit = home.run_input_ok(&env, &["audit"], "");
    assert_eq!(
        String::from_utf8_lossy(&audit.stdout)
            .matches("(passphrase)")
            .count(),
        2
    );
    assert!(
        String::from_utf8_lossy(&home.run_input_ok(&env, &["audit", "--verify"], "").stdout)
            .contains("intact")
    );
    assert!(!contains(&home.data_bytes(), &token));
}

#[test]
fn at_a_terminal_the_passphrase_is_asked_without_echo() {
    let home = Home::new();
    home.write_config(PASSPHRASE_CONFIG);
    home.run_input_ok(&[("MCPIST_PASSPHRASE", "typed secret 42")], &["init"], "");
    // The prompt is printed just before echo is turned off, so typing the
    // instant it shows can race that; a person never types that fast. Echo
    // seen after a pause of 2 s as well is a real failure.
    let mut outputs = Vec::new();
    for pause in [300, 2_000] {
        let seen = type_at_prompt(&home, "typed secret 42", pause);
        assert!(
            seen.contains("exit=0") && seen.contains("mcpist_"),
            "{seen}"
        );
        if !seen.contains("typed secret") {
            return;
        }
        outputs.push(seen);
    }
    panic!("the passphrase was echoed: {outputs:?}");
}

/// Runs `mcpist bearer show` on a pseudo-terminal (by `script`), types
/// `passphrase` `pause_ms` after the prompt shows, and returns the screen.
fn type_at_prompt(home: &Home, passphrase: &str, pause_ms: u64) -> String {
    let line = format!("{BIN} bearer show; echo exit=$?");
    let mut child = home
        .program("script", &[], &["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !contains(&seen, "Passphrase of the MCPist store: ") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    std::thread::sleep(std::time::Duration::from_millis(pause_ms));
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(format!("{passphrase}\n").as_bytes())
        .unwrap();
    stdout.read_to_end(&mut seen).unwrap();
    child.wait().unwrap();
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_breaks_its_account_only() {
    let fake = mcpist_connectors::github::fake::FakeGithub::start().await;
    let (good, damaged) = (canary("good"), canary("damaged"));
    fake.accept_token(&good, "octocat");
    fake.accept_token(&damaged, "hubot");
    let home = Home::new();
    home.run_input_ok(&[], &["init"], "");
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n",
        fake.base_url()
    ));
    for (account, token) in [("work", &good), ("home", &damaged)] {
        home.run_input_ok(&[], &add_token_args(account), token);
    }
    // One byte of `home`'s ciphertext flipped on disk, past the envelope header.
    {
        let conn = rusqlite::Connection::open(home.db()).unwrap();
        let mut sealed: Vec<u8> = conn
            .query_row(
                "SELECT sealed FROM accounts WHERE account = 'home'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        sealed[40] ^= 0x01;
        conn.execute(
            "UPDATE accounts SET sealed = ?1 WHERE account = 'home'",
            [&sealed],
        )
        .unwrap();
    }

    let listed = home.run_input_ok(&[], &["accounts", "list"], "");
    let text_list = String::from_utf8_lossy(&listed.stdout);
    let line = |label: &str| {
        text_list
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(label))
            .unwrap_or_else(|| panic!("no line for {label}: {text_list}"))
            .to_owned()
    };
    assert!(
        line("home").contains("broken: cannot be decrypted"),
        "{text_list}"
    );
    assert!(!line("work").contains("broken"), "{text_list}");
    assert!(stderr(&listed).contains("1 account(s) cannot be decrypted"));
    let json: serde_json::Value = serde_json::from_slice(
        &home
            .run_input_ok(&[], &["accounts", "list", "--json"], "")
            .stdout,
    )
    .unwrap();
    let status: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap(),
                a["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(status, [("home", "broken"), ("work", "ok")]);

    let results = stdio_calls(
        &home,
        &[
            ("github_get_me", serde_json::json!({"account": "work"})),
            ("github_get_me", serde_json::json!({"account": "home"})),
            ("github_get_me", serde_json::json!({"account": "work"})),
        ],
    )
    .await;
    for ok in [&results[0], &results[2]] {
        assert_eq!(ok.is_error, Some(false), "{}", text(ok));
        assert!(text(ok).contains("octocat"));
    }
    assert_eq!(results[1].is_error, Some(true));
    assert!(
        text(&results[1]).contains("could not be opened"),
        "{}",
        text(&results[1])
    );
    // Only the good token ever reached the upstream.
    let seen: Vec<_> = fake
        .api_requests()
        .iter()
        .filter_map(|r| r.authorization.clone())
        .collect();
    assert_eq!(seen, vec![format!("Bearer {good}"); 2]);
}

#[test]
fn a_truncated_or_garbage_store_file_is_refused_and_never_written() {
    let home = Home::new();
    home.run_input_ok(&[], &["init"], "");
    for label in ["a", "b", "c"] {
        home.run_input_ok(&[], &add_token_args(label), &canary(label));
    }
    let intact = std::fs::read(home.db()).unwrap();
    assert!(
        !home.data_dir().join("mcpist.db-wal").exists(),
        "checkpointed at exit"
    );
    let mut garbage = intact.clone();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for byte in &mut garbage {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let mut zero_header = intact.clone();
    zero_header[..100].fill(0);
    let damages: [(&str, Vec<u8>); 4] = [
        ("truncated to half", intact[..intact.len() / 2].to_vec()),
        ("truncated mid-page", intact[..intact.len() - 1000].to_vec()),
        ("garbage", garbage),
        ("zeroed header", zero_header),
    ];
    let db = home.db().display().to_string();
    for (what, bytes) in damages {
        std::fs::write(home.db(), &bytes).unwrap();
        for args in [&["accounts", "list"][..], &["serve", "--stdio"], &["init"]] {
            let out = home.run_input(&[], args, "");
            let err = stderr(&out);
            assert!(!out.status.success(), "{what}: {args:?} succeeded");
            assert!(
                err.contains(&db) && err.contains("left untouched"),
                "{what}: {args:?}: {err}"
            );
            assert!(
                std::fs::read(home.db()).unwrap() == bytes,
                "{what}: {args:?} changed the file"
            );
        }
    }
    std::fs::write(home.db(), &intact).unwrap();
    home.run_input_ok(&[], &["accounts", "list"], "");
}

#[test]
fn key_rotate_moves_a_passphrase_store_back_to_a_key_file() {
    let home = Home::new();
    home.write_config(PASSPHRASE_CONFIG);
    let env = [("MCPIST_PASSPHRASE", "going back to a file")];
    let bearer = home.run_input_ok(&env, &["init"], "").stdout;
    let out = home.run_input_ok(&env, &["key", "rotate", "--to-key-file"], "");
    assert!(
        stderr(&out).contains("remove `key = \"passphrase\"`"),
        "{}",
        stderr(&out)
    );
    assert!(home.key_path().exists() && stored_kdf(&home.db()).is_none());
    // The passphrase no longer opens it, and the message says what does.
    let out = home.run_input(&env, &["bearer", "show"], "");
    assert!(
        stderr(&out).contains("sealed with a key file"),
        "{}",
        stderr(&out)
    );
    home.write_config("");
    assert_eq!(
        home.run_input_ok(&[], &["bearer", "show"], "").stdout,
        bearer
    );

    // A stop after the re-seal but before the key file was moved into place:
    // the next command finishes the move.
    let next = home.data_dir().join("master.key.next");
    std::fs::rename(home.key_path(), &next).unwrap();
    let out = home.run_input_ok(&[], &["bearer", "show"], "");
    assert_eq!(out.stdout, bearer);
    assert!(stderr(&out).contains("finished an interrupted key rotation"));
    assert!(home.key_path().exists() && !next.exists());
    // Refused when a key file is already in the way.
    home.run_input_ok(
        &[("MCPIST_NEW_PASSPHRASE", "and forth")],
        &["key", "rotate", "--to-passphrase"],
        "",
    );
    home.write_config(PASSPHRASE_CONFIG);
    let out = home.run_input(
        &[("MCPIST_PASSPHRASE", "and forth")],
        &["key", "rotate", "--to-key-file"],
        "",
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("move that file away first"),
        "{}",
        stderr(&out)
    );
}

/// `key rotate` while a stdio server has the store open would leave the
/// server writing with the retired key: refused, with what to stop, and
/// nothing changed; once it stops, the rotation goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotate_is_refused_while_a_server_has_the_store_open() {
    let home = Home::new();
    home.run_input_ok(&[], &["init"], "");
    let token = canary("busyrotate");
    home.run_input_ok(&[], &add_token_args("work"), &token);
    let key_before = std::fs::read(home.key_path()).unwrap();
    let server = support::stdio_client(&home).await;
    // The server is up and has opened the store.
    server.list_tools(Default::default()).await.unwrap();
    let out = home.run_input(&[], &["key", "rotate"], "");
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "rotated under a running server: {err}"
    );
    assert!(
        err.contains("in use by another process")
            && err.contains("mcpist serve")
            && err.contains("--stdio"),
        "{err}"
    );
    assert_eq!(std::fs::read(home.key_path()).unwrap(), key_before);
    assert!(!home.data_dir().join("master.key.next").exists());
    server.cancel().await.unwrap();
    let out = home.run_input_ok(&[], &["key", "rotate"], "");
    assert!(
        stderr(&out).contains("values re-sealed"),
        "{}",
        stderr(&out)
    );
    assert_ne!(std::fs::read(home.key_path()).unwrap(), key_before);
    let listed = home.run_input_ok(&[], &["accounts", "list"], "");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("work"));
}

/// One record that no longer opens does not make rotation impossible: it
/// is named (never shown), nothing changes without `--skip-broken`, and
/// with it the rest is re-sealed.
#[test]
fn key_rotate_names_a_broken_record_and_skips_it_on_request() {
    let home = Home::new();
    home.run_input_ok(&[], &["init"], "");
    let (good, bad) = (canary("rotgood"), canary("rotbad"));
    home.run_input_ok(&[], &add_token_args("work"), &good);
    home.run_input_ok(&[], &add_token_args("home"), &bad);
    // The sealed value of `home` damaged by hand.
    let conn = rusqlite::Connection::open(home.db()).unwrap();
    conn.execute(
        "UPDATE accounts SET sealed = (SELECT sealed FROM accounts WHERE account = 'work') \
         WHERE account = 'home'",
        [],
    )
    .unwrap();
    drop(conn);
    let key_before = std::fs::read(home.key_path()).unwrap();
    let out = home.run_input(&[], &["key", "rotate"], "");
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("github/home") && err.contains("--skip-broken"),
        "{err}"
    );
    assert!(!err.contains(&good) && !err.contains(&bad), "{err}");
    assert_eq!(std::fs::read(home.key_path()).unwrap(), key_before);
    assert!(!home.data_dir().join("master.key.next").exists());

    let out = home.run_input_ok(&[], &["key", "rotate", "--skip-broken"], "");
    let said = stderr(&out);
    assert!(
        said.contains("github/home") && said.contains("left as they are"),
        "{said}"
    );
    assert!(!said.contains(&good) && !said.contains(&bad), "{said}");
    assert_ne!(std::fs::read(home.key_path()).unwrap(), key_before);
    // The good account works with the new key.
    let listed = home.run_input_ok(&[], &["accounts", "list"], "");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("work"));
    let audit = home.run_input_ok(&[], &["audit", "--verify"], "");
    assert!(String::from_utf8_lossy(&audit.stdout).contains("intact"));
}

/// The key derivation cost is read from the store file: one that asks for
/// 4 GiB is refused with a clear error (not an out-of-memory kill), and the
/// file is left as it was.
#[test]
fn a_passphrase_store_asking_for_4_gib_is_refused_untouched() {
    let home = Home::new();
    home.write_config(PASSPHRASE_CONFIG);
    let env = [("MCPIST_PASSPHRASE", "correct horse battery staple 4g1b")];
    home.run_input_ok(&env, &["init"], "");
    let mut kdf = stored_kdf(&home.db()).unwrap();
    kdf["m_kib"] = serde_json::json!(4u64 * 1024 * 1024);
    let conn = rusqlite::Connection::open(home.db()).unwrap();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'kdf'",
        [serde_json::to_vec(&kdf).unwrap()],
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(home.db()).unwrap();
    let out = home.run_input(&env, &["accounts", "list"], "");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("m=4194304 KiB") && err.contains("at most"),
        "{err}"
    );
    assert_eq!(std::fs::read(home.db()).unwrap(), before);
}

/// `mcpist audit --verify` on a real file edited with SQL: the newest 100
/// and the oldest 50 records deleted and the head and anchor marks
/// rewritten to match what is left; then the head mark deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_detects_truncation_at_both_ends_with_rewritten_marks() {
    use mcpist_core::{
        AuditSink, SqliteStore,
        audit::{AuditEvent, AuditKind, AuditOutcome, Outcome},
        seal::MasterKey,
    };
    let home = Home::new();
    home.run_input_ok(&[], &["init"], "");
    {
        let store =
            SqliteStore::open(&home.db(), MasterKey::read_file(&home.key_path()).unwrap()).unwrap();
        for i in 0..200 {
            store
                .record(
                    AuditEvent::now(AuditKind::ToolCall).tool(format!("github_tool_{i}")),
                    AuditOutcome::of(Outcome::Ok),
                )
                .await
                .unwrap();
        }
    }
    let verify = || home.run_input(&[], &["audit", "--verify"], "");
    assert!(verify().status.success(), "{}", stderr(&verify()));
    let conn = rusqlite::Connection::open(home.db()).unwrap();
    let (first, last): (i64, i64) = conn
        .query_row("SELECT min(seq), max(seq) FROM audit", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let mark = |seq: i64| -> Vec<u8> {
        let mac: Vec<u8> = conn
            .query_row("SELECT mac FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
            .unwrap();
        [(seq as u64).to_be_bytes().as_slice(), &mac].concat()
    };
    let (cut_old, new_last) = (first + 49, last - 100);
    let (anchor, head) = (mark(cut_old), mark(new_last));
    conn.execute(
        "DELETE FROM audit WHERE seq <= ?1 OR seq > ?2",
        [cut_old, new_last],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO meta (name, value) VALUES ('audit_anchor', ?1), ('audit_head', ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        rusqlite::params![anchor, head],
    )
    .unwrap();
    let out = verify();
    assert!(
        !out.status.success(),
        "a log cut at both ends passed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(
        said.contains("audit_head") && said.contains("audit_anchor"),
        "{said}"
    );

    // The head mark deleted (the newest records with it): also a break.
    let home = Home::new();
    home.run_input_ok(&[], &["init"], "");
    home.run_input_ok(&[], &add_token_args("work"), &canary("headmark"));
    let conn = rusqlite::Connection::open(home.db()).unwrap();
    conn.execute("DELETE FROM meta WHERE name = 'audit_head'", [])
        .unwrap();
    let out = home.run_input(&[], &["audit", "--verify"], "");
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("audit_head mark is missing"), "{said}");
}
