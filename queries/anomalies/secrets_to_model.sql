-- id: secrets_to_model
-- title: A credential was sent to the model
-- severity: high
-- tags: T1552, T1020, exfiltration
-- description: An LLM request body that carries a credential (a private key, a cloud key id or secret, an API or bearer token): the model provider now holds it. One finding per credential and conversation, at the first request that sent it; it shows the class, the byte offset in the request body and the first 32 bits of its SHA-256, never the value.
-- false_positives: Test fixtures with example keys (AKIAIOSFODNN7EXAMPLE); a user pasting a key on purpose.
--
-- Request headers are not scanned: the recorder masks credential headers.
WITH hits AS (
  SELECT c.capture, c.ts_ns, c.call_id, c.conversation_id, c.proc_key,
         unnest(secret_scan(x.request_body)) AS hit
  FROM llm_calls c
  JOIN http_exchanges x ON x.capture = c.capture AND x.conn_id = c.conn_id AND x.exchange_index = c.exchange_index
), flat AS (
  SELECT capture, ts_ns, call_id, conversation_id, proc_key,
         hit['class'] AS class, hit['offset'] AS byte_offset, hit['fingerprint'] AS fingerprint
  FROM hits
), firsts AS (
  SELECT capture, conversation_id, class, fingerprint,
         min(ts_ns) AS ts_ns,
         first_value(call_id ORDER BY ts_ns) AS call_id,
         first_value(byte_offset ORDER BY ts_ns) AS byte_offset,
         first_value(proc_key ORDER BY ts_ns) AS proc_key,
         count(DISTINCT call_id) AS requests
  FROM flat
  GROUP BY capture, conversation_id, class, fingerprint
)
SELECT capture, ts_ns, proc_key,
       class || ' sent to the model in llm_call:' || CAST(call_id AS VARCHAR) || ' (request body offset '
         || CAST(byte_offset AS VARCHAR) || ', sha256:' || fingerprint || ', in ' || CAST(requests AS VARCHAR)
         || ' requests)' AS summary,
       make_array('llm_call:' || CAST(call_id AS VARCHAR), 'conversation:' || CAST(conversation_id AS VARCHAR),
                  'process:' || CAST(proc_key AS VARCHAR)) AS evidence,
       class, byte_offset, 'sha256:' || fingerprint AS fingerprint, call_id, requests
FROM firsts
