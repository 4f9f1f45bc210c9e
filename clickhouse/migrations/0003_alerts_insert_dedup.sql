-- Retried alert inserts carry a deduplication token; on a single node (and in
-- the embedded engine) that needs a deduplication window on the table.
ALTER TABLE costline.alerts MODIFY SETTING non_replicated_deduplication_window = 1000;
