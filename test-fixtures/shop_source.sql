-- The "shop" fixture, source side: three tables that exercise integer keys
-- with gaps, text keys with unicode, a composite key, NULLs, empty strings,
-- the string 'NULL', blobs, large integers and floats.
CREATE TABLE customers (
    email      TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    city       TEXT,
    vip        INTEGER NOT NULL DEFAULT 0,
    avatar     BLOB
);

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer    TEXT NOT NULL,
    total       REAL,
    placed_at   TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX orders_by_customer ON orders (customer);

CREATE TABLE order_items (
    order_id   INTEGER NOT NULL,
    line       INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    qty        INTEGER NOT NULL,
    price      NUMERIC,
    PRIMARY KEY (order_id, line)
) WITHOUT ROWID;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO customers (email, name, city, vip, avatar)
SELECT printf('customer%03d@example.com', i),
       CASE i % 7 WHEN 0 THEN 'Zoë ' || i WHEN 1 THEN '山田 ' || i ELSE 'Customer ' || i END,
       CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'NULL' ELSE 'Lyon' END,
       i % 11 = 0,
       CASE WHEN i % 13 = 0 THEN x'' ELSE zeroblob(i % 4) END
FROM n;

-- Ids with gaps: every third id is skipped, and a block sits far away.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO orders (id, customer, total, placed_at, note)
SELECT CASE WHEN i > 2900 THEN 9007199254740000 + i ELSE i + i / 2 END,
       printf('customer%03d@example.com', 1 + i % 500),
       CASE i % 10 WHEN 0 THEN NULL WHEN 1 THEN -0.0 ELSE round(i * 1.37, 2) END,
       strftime('%Y-%m-%dT%H:%M:%fZ', '2024-01-01', '+' || (i * 37) || ' minutes'),
       CASE i % 9 WHEN 0 THEN 'gift 🎁' WHEN 1 THEN '' ELSE NULL END
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO order_items (order_id, line, sku, qty, price)
SELECT o.id, l.line, 'SKU-' || ((o.id * 7 + l.line) % 97), 1 + (o.id + l.line) % 5, (o.id % 50) + 0.99
FROM orders o JOIN (SELECT 1 AS line UNION ALL SELECT 2 UNION ALL SELECT 3) l
WHERE o.id % 4 <> 0 OR l.line = 1;
