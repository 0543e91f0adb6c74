-- The demo's medallion: raw landing files -> bronze -> silver -> gold.
-- `quarry demo` runs this script; run it yourself with
--   quarry --warehouse quarry-data -f examples/medallion.sql

-- Bronze: the landing files as they arrived, as Iceberg tables.
CREATE OR REPLACE TABLE bronze.customers AS SELECT * FROM 'landing/customers.csv';
CREATE OR REPLACE TABLE bronze.products AS SELECT * FROM 'landing/products.json';
-- Transactions arrive as a stream of CSV files: COPY INTO loads the files it has not
-- loaded before, typed, and keeps the rows that do not parse, with their file and line,
-- in bronze.transactions_rejects.
CREATE TABLE IF NOT EXISTS bronze.transactions (
  transaction_id BIGINT, customer_id BIGINT, product_id BIGINT, quantity INT,
  unit_price DECIMAL(10, 2), sold_at TIMESTAMP, store VARCHAR, payment_method VARCHAR,
  _source_file VARCHAR, _ingested_at TIMESTAMP);
COPY INTO bronze.transactions FROM 'landing/transactions/' FILE_FORMAT 'csv'
  (ON_ERROR 'continue');
CREATE OR REPLACE TABLE bronze.returns AS SELECT * FROM 'landing/returns.parquet';

-- Silver: typed, deduplicated, bad rows filtered out.
CREATE OR REPLACE TABLE silver.customers AS
SELECT DISTINCT
       CAST(customer_id AS BIGINT) AS customer_id,
       name,
       CASE WHEN email LIKE '%_@_%' THEN email END AS email,
       NULLIF(city, '') AS city,
       TRY_CAST(signup_date AS DATE) AS signup_date,
       segment
  FROM bronze.customers;

CREATE OR REPLACE TABLE silver.products AS
SELECT DISTINCT
       CAST(product_id AS BIGINT) AS product_id,
       name,
       category,
       CAST(price AS DECIMAL(10, 2)) AS price,
       sku
  FROM bronze.products
 WHERE price > 0;

CREATE OR REPLACE TABLE silver.transactions PARTITION BY (month(sold_at)) AS
SELECT DISTINCT
       CAST(t.transaction_id AS BIGINT) AS transaction_id,
       CAST(t.customer_id AS BIGINT) AS customer_id,
       CAST(t.product_id AS BIGINT) AS product_id,
       t.quantity,
       t.unit_price,
       t.sold_at,
       t.store,
       t.payment_method
  FROM bronze.transactions t
 WHERE t.quantity > 0
   AND t.sold_at IS NOT NULL
   AND t.customer_id IN (SELECT customer_id FROM silver.customers);

CREATE OR REPLACE TABLE silver.returns AS
SELECT DISTINCT r.return_id, r.transaction_id, r.returned_at,
       COALESCE(r.reason, 'unknown') AS reason,
       CAST(r.refund_amount AS DECIMAL(10, 2)) AS refund_amount
  FROM bronze.returns r
 WHERE r.refund_amount IS NOT NULL
   AND r.transaction_id IN (SELECT transaction_id FROM silver.transactions);

-- Gold: what the business asks about.
CREATE OR REPLACE TABLE gold.daily_sales PARTITION BY (month(day)) AS
SELECT CAST(sold_at AS DATE) AS day,
       store,
       count(*) AS orders,
       sum(quantity) AS units,
       sum(quantity * unit_price) AS revenue
  FROM silver.transactions
 GROUP BY 1, 2;

CREATE OR REPLACE TABLE gold.customer_segments AS
SELECT c.segment,
       c.city,
       count(DISTINCT c.customer_id) AS customers,
       count(t.transaction_id) AS orders,
       COALESCE(sum(t.quantity * t.unit_price), 0) AS revenue
  FROM silver.customers c
  LEFT JOIN silver.transactions t ON t.customer_id = c.customer_id
 GROUP BY c.segment, c.city;

CREATE OR REPLACE TABLE gold.product_performance AS
SELECT p.category,
       p.product_id,
       p.name,
       count(t.transaction_id) AS orders,
       COALESCE(sum(t.quantity), 0) AS units,
       COALESCE(sum(t.quantity * t.unit_price), 0) AS revenue,
       count(r.return_id) AS returns
  FROM silver.products p
  LEFT JOIN silver.transactions t ON t.product_id = p.product_id
  LEFT JOIN silver.returns r ON r.transaction_id = t.transaction_id
 GROUP BY p.category, p.product_id, p.name;

-- A reflection: the roll-ups dashboards ask of daily sales (per store, per month, ...)
-- are answered from this materialization instead of the table, without changing a query.
-- (Dropped first so that the script can run again.)
ALTER TABLE gold.daily_sales DROP REFLECTION IF EXISTS sales_by_store;
ALTER TABLE gold.daily_sales CREATE AGGREGATE REFLECTION sales_by_store
  USING DIMENSIONS (store, day BY DAY)
  MEASURES (orders (SUM), units (SUM), revenue (SUM, MIN, MAX));
