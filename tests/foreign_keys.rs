//! Targets whose tables are tied by foreign keys (enforced): a sync writes
//! parents before children and deletes from parents after their children,
//! whatever order the tables are named in. Checked on each engine against
//! the target's own rendering of its rows, with the keys still enforced.

mod common;

use tempfile::TempDir;

use common::{my, pg, rangesync};

/// Tables named so that the alphabetical (and given) order is children
/// first: a_line → b_invoice → c_customer.
fn ddl(text: &str) -> String {
    format!(
        "CREATE TABLE c_customer (id INTEGER PRIMARY KEY, name {text});
         CREATE TABLE b_invoice (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES c_customer (id), total INTEGER);
         CREATE TABLE a_line (id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES b_invoice (id), qty INTEGER);"
    )
}

/// SOURCE: customers 1-3 with an invoice each and two lines per invoice.
const SOURCE_ROWS: &str = "INSERT INTO c_customer VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
     INSERT INTO b_invoice VALUES (10, 1, 5), (20, 2, 6), (30, 3, 7);
     INSERT INTO a_line VALUES (100, 10, 1), (101, 10, 2), (200, 20, 1), (201, 20, 2), (300, 30, 1), (301, 30, 2);";

/// TARGET: customer 3 and its rows missing (new parents and children to
/// insert), customer 9 with an invoice and a line SOURCE no longer has
/// (to delete, children first), bob's invoice total changed.
const TARGET_ROWS: &str = "INSERT INTO c_customer VALUES (1, 'ann'), (2, 'bob'), (9, 'gone');
     INSERT INTO b_invoice VALUES (10, 1, 5), (20, 2, 99), (90, 9, 1);
     INSERT INTO a_line VALUES (100, 10, 1), (101, 10, 2), (200, 20, 1), (201, 20, 2), (900, 90, 1);";

const TABLES: [&str; 3] = ["a_line", "b_invoice", "c_customer"];

/// InnoDB enforces the keys (MariaDB ignores column-level REFERENCES).
const MY_DDL: &str = "CREATE TABLE c_customer (id INTEGER PRIMARY KEY, name TEXT) ENGINE=InnoDB;
     CREATE TABLE b_invoice (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, total INTEGER, FOREIGN KEY (customer_id) REFERENCES c_customer (id)) ENGINE=InnoDB;
     CREATE TABLE a_line (id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL, qty INTEGER, FOREIGN KEY (invoice_id) REFERENCES b_invoice (id)) ENGINE=InnoDB;";

/// `sync --delete` of the three tables, children named first; with
/// `--format jsonl` (`listed`) each differing key is listed once.
fn sync(src: &str, tgt: &str, listed: bool) {
    let mut args = vec!["sync", src, tgt, "--delete", "--format", if listed { "jsonl" } else { "json" }];
    for t in TABLES {
        args.extend(["--table", t]);
    }
    let run = rangesync(&args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let r: serde_json::Value = match listed {
        true => serde_json::from_str(lines.last().unwrap()).unwrap(),
        false => run.json(),
    };
    if listed {
        let keys: std::collections::BTreeSet<&str> = lines[..lines.len() - 1].iter().copied().collect();
        // 1 + 1 customer, 1 + 1 + 1 invoice, 2 + 1 lines.
        assert_eq!((keys.len(), lines.len() - 1), (8, 8), "each key once: {}", run.stdout);
    }
    let d = |name: &str| r["datasets"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap().clone();
    assert_eq!((d("c_customer")["inserted"].as_u64(), d("c_customer")["deleted"].as_u64()), (Some(1), Some(1)), "{r}");
    assert_eq!((d("b_invoice")["inserted"].as_u64(), d("b_invoice")["updated"].as_u64(), d("b_invoice")["deleted"].as_u64()), (Some(1), Some(1), Some(1)), "{r}");
    assert_eq!((d("a_line")["inserted"].as_u64(), d("a_line")["deleted"].as_u64()), (Some(2), Some(1)), "{r}");
    assert_eq!(d("c_customer")["remaining"], 0, "the parents' deletes ran once the children were repaired: {r}");
    let again = rangesync(&["diff", src, tgt]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[tokio::test]
async fn postgres_parents_are_written_first_and_deleted_last() {
    let src = pg::fresh_db("rs_fk_src").await;
    let tgt = pg::fresh_db("rs_fk_tgt").await;
    pg::exec(&src, &format!("{}{SOURCE_ROWS}", ddl("text"))).await;
    pg::exec(&tgt, &format!("{}{TARGET_ROWS}", ddl("text"))).await;
    sync(&src, &tgt, false);
    for t in TABLES {
        assert_eq!(pg::rows_as_text(&src, t, "id").await, pg::rows_as_text(&tgt, t, "id").await, "{t}");
    }
    // The keys were never dropped or disabled: PostgreSQL still refuses an orphan.
    let enforced = pg::scalar(&tgt, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated").await;
    assert_eq!(enforced, 2);
}

#[tokio::test]
async fn mariadb_parents_are_written_first_and_deleted_last() {
    let src = my::fresh_db("rs_fk_src").await;
    let tgt = my::fresh_db("rs_fk_tgt").await;
    my::exec(&src, &format!("{MY_DDL}{SOURCE_ROWS}")).await;
    my::exec(&tgt, &format!("{MY_DDL}{TARGET_ROWS}")).await;
    sync(&src, &tgt, false);
    for (t, cols) in [("a_line", ["id", "invoice_id", "qty"]), ("b_invoice", ["id", "customer_id", "total"]), ("c_customer", ["id", "name", "id"])] {
        assert_eq!(my::rows_as_text(&src, t, &cols, "id").await, my::rows_as_text(&tgt, t, &cols, "id").await, "{t}");
    }
}

#[tokio::test]
async fn sqlite_parents_are_written_first_and_deleted_last() {
    let dir = TempDir::new().unwrap();
    let (s, t) = (dir.path().join("s.db"), dir.path().join("t.db"));
    common::exec(&s, &format!("{}{SOURCE_ROWS}", ddl("TEXT"))).await;
    common::exec(&t, &format!("{}{TARGET_ROWS}", ddl("TEXT"))).await;
    sync(&common::url(&s), &common::url(&t), true);
    for table in TABLES {
        assert_eq!(common::independent_diff(&s, &t, table).await, (0, 0), "{table}");
    }
    // SQLite's own check finds no row pointing nowhere.
    assert_eq!(common::scalar(&t, "SELECT count(*) FROM pragma_foreign_key_check").await, 0);
}

/// `schema` creates tables without their foreign keys, and says so.
#[tokio::test]
async fn schema_says_it_leaves_foreign_keys_out() {
    let src = pg::fresh_db("rs_fk_schema_src").await;
    let tgt = pg::fresh_db("rs_fk_schema_tgt").await;
    pg::exec(&src, &ddl("text")).await;
    let run = rangesync(&["schema", &src, &tgt, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let notes = run.json()["notes"].to_string();
    assert!(notes.contains("table a_line is created without its foreign keys (to b_invoice)"), "{notes}");
    assert!(notes.contains("table b_invoice is created without its foreign keys (to c_customer)"), "{notes}");
    assert_eq!(pg::scalar(&tgt, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'").await, 0, "no key was created");
    assert_eq!(pg::scalar(&tgt, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").await, 3);
}

/// MariaDB to MariaDB carries each definition whole, keys included: the
/// parents are created first (MariaDB refuses a key to a table not there
/// yet), then filled first.
#[tokio::test]
async fn mariadb_tables_with_their_keys_are_created_and_filled_parents_first() {
    let src = my::fresh_db("rs_fk_create_src").await;
    let tgt = my::fresh_db("rs_fk_create_tgt").await;
    my::exec(&src, &format!("{MY_DDL}{SOURCE_ROWS}")).await;
    let run = rangesync(&["sync", &src, &tgt, "--create-tables", "--delete", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("without its foreign keys"), "{}", run.stdout);
    let schema = rangesync(&["schema", &src, &my::fresh_db("rs_fk_create_tgt2").await, "--format", "json"]);
    assert_eq!(schema.code, 0, "{}", schema.stderr);
    assert!(schema.json().get("notes").is_none(), "the keys came along: {}", schema.stdout);
    for (t, cols) in [("a_line", ["id", "invoice_id", "qty"]), ("b_invoice", ["id", "customer_id", "total"]), ("c_customer", ["id", "name", "id"])] {
        assert_eq!(my::rows_as_text(&src, t, &cols, "id").await, my::rows_as_text(&tgt, t, &cols, "id").await, "{t}");
    }
}

/// Into a SQLite file that does not exist yet: every table is created from
/// SOURCE's definition (its keys with it, enforced) and filled parents
/// first, by SOURCE's keys.
#[tokio::test]
async fn sqlite_into_a_new_file_is_created_and_filled_parents_first() {
    let dir = TempDir::new().unwrap();
    let (s, t) = (dir.path().join("s.db"), dir.path().join("new.db"));
    common::exec(&s, &format!("{}{SOURCE_ROWS}", ddl("TEXT"))).await;
    let run = rangesync(&["sync", &common::url(&s), &common::url(&t), "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for table in TABLES {
        assert_eq!(common::independent_diff(&s, &t, table).await, (0, 0), "{table}");
    }
    assert_eq!(common::scalar(&t, "SELECT count(*) FROM pragma_foreign_key_list('a_line')").await, 1, "the key came with the definition");
}
