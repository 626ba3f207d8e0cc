-- The price catalog each partition's costs were priced with: its
-- fingerprint, and the first offset priced with it. An owner whose catalog
-- differs from the checkpoint's reports the change (aggregate/doc.go,
-- README "Price catalogs"). Servers without ADD COLUMN IF NOT EXISTS
-- (18.16) get the clause from the migration runner (sink/migrate.go).
ALTER TABLE ${db}.consumer_checkpoints ADD COLUMN IF NOT EXISTS catalog String DEFAULT '';

ALTER TABLE ${db}.consumer_checkpoints ADD COLUMN IF NOT EXISTS catalog_from Int64 DEFAULT 0;
