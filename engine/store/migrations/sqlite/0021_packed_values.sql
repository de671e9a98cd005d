-- Stored values compressed (zstd with a dictionary built into reqflow that
-- holds no one's data; see engine/store/src/packed.rs).
--
-- `raw_packed` = 1: `raw_body` holds the bytes received packed
-- (`[dictionary id, zstd frame]`); 0 (every row stored before this
-- migration): the bytes as received. JSON columns (events.payload,
-- attempts.input/output, step_results.output) need no flag: a packed value
-- starts with a NUL byte, which JSON text never does, and rows stored before
-- keep their text and read back as before.
ALTER TABLE events ADD COLUMN raw_packed INTEGER NOT NULL DEFAULT 0;
