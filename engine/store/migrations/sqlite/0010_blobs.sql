-- Binary values (a fetched PDF report, an attachment) kept once per content
-- hash: attempt inputs and outputs and step results store a reference
-- (the binary value without its `data`), never the bytes again.
CREATE TABLE blobs (
    sha256        TEXT PRIMARY KEY,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    data          BLOB NOT NULL,
    created_at    INTEGER NOT NULL
);
