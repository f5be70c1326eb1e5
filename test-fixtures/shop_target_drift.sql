-- Applied on top of shop_source.sql to build the drifted target: what a
-- replica looks like after missing writes while it was down.

-- Missing rows: the first and the last key, a run in the middle, and keys
-- on both sides of a gap.
DELETE FROM orders WHERE id IN (1, 3, 4, 1500, 1501, 1502, 1503, 9007199254743000);
DELETE FROM customers WHERE email IN ('customer001@example.com', 'customer500@example.com');
DELETE FROM order_items WHERE order_id = 7 AND line = 2;

-- Changed rows: NULL became empty, empty became the string 'NULL', a float
-- moved by one ulp-ish, unicode normalised differently, a blob byte flipped.
UPDATE customers SET city = '' WHERE email = 'customer005@example.com';
UPDATE customers SET city = 'NULL' WHERE email = 'customer006@example.com';
UPDATE customers SET name = 'Zoe' || substr(name, 4) WHERE email = 'customer007@example.com';
UPDATE orders SET total = total + 0.000001 WHERE id = 33;
UPDATE orders SET note = NULL WHERE id = 1350;
UPDATE order_items SET qty = qty + 1 WHERE order_id = 2001;

-- Extra rows the source never had.
INSERT INTO orders (id, customer, total, placed_at, note)
VALUES (2, 'ghost@example.com', 1.0, '2024-01-01T00:00:00.000Z', 'extra'),
       (99999999, 'ghost@example.com', 2.0, '2024-01-02T00:00:00.000Z', 'extra');
INSERT INTO customers (email, name) VALUES ('ghost@example.com', 'Ghost');
