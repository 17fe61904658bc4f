-- id: secrets_to_model
-- title: A credential was sent to the model
-- severity: high
-- tags: T1552, T1020, exfiltration
-- description: A message sent to the model in an LLM request (a prompt, a tool result, a file a built-in tool read) that carries a credential: a private key, a cloud key id or secret, an API or bearer token. The model provider now holds it, and every later request of the conversation resends it. One finding per credential and conversation, at the request that first carried it; it shows the class, the message and byte offset in that message's parts (`llm_messages.parts`) and the first 32 bits of its SHA-256, never the value.
-- false_positives: Test fixtures with example keys (AKIAIOSFODNN7EXAMPLE); a user pasting a key on purpose.
--
-- Each message is scanned once, where it is new in its conversation (the
-- scan of llm_messages builds only those rows). Request headers are not
-- scanned: the recorder masks credential headers.
WITH hits AS (
  SELECT m.capture, m.ts_ns, m.call_id, m.conversation_id, m.message_index, m.role,
         unnest(secret_scan(m.parts)) AS hit
  FROM llm_messages m
  WHERE m.new_in_conversation AND m.source = 'request'
), flat AS (
  SELECT capture, ts_ns, call_id, conversation_id, message_index, role,
         hit['class'] AS class, hit['offset'] AS byte_offset, hit['fingerprint'] AS fingerprint
  FROM hits
), firsts AS (
  SELECT capture, conversation_id, class, fingerprint,
         min(ts_ns) AS ts_ns,
         first_value(call_id ORDER BY ts_ns) AS call_id,
         first_value(message_index ORDER BY ts_ns) AS message_index,
         first_value(role ORDER BY ts_ns) AS role,
         first_value(byte_offset ORDER BY ts_ns) AS byte_offset
  FROM flat
  GROUP BY capture, conversation_id, class, fingerprint
), resent AS (
  SELECT f.capture, f.conversation_id, f.class, f.fingerprint, count(c.call_id) AS requests
  FROM firsts f JOIN llm_calls c
    ON c.capture = f.capture AND c.conversation_id = f.conversation_id AND c.ts_ns >= f.ts_ns
  GROUP BY f.capture, f.conversation_id, f.class, f.fingerprint
)
SELECT f.capture, f.ts_ns, c.proc_key,
       f.class || ' sent to the model in llm_call:' || CAST(f.call_id AS VARCHAR) || ' (' || f.role
         || ' message ' || CAST(f.message_index AS VARCHAR) || ', offset ' || CAST(f.byte_offset AS VARCHAR)
         || ', sha256:' || f.fingerprint || '; resent in ' || CAST(r.requests AS VARCHAR) || ' requests)' AS summary,
       make_array('llm_call:' || CAST(f.call_id AS VARCHAR), 'conversation:' || CAST(f.conversation_id AS VARCHAR),
                  'process:' || CAST(c.proc_key AS VARCHAR)) AS evidence,
       f.class, f.role, f.message_index, f.byte_offset, 'sha256:' || f.fingerprint AS fingerprint,
       f.call_id, r.requests
FROM firsts f
JOIN llm_calls c ON c.capture = f.capture AND c.call_id = f.call_id
JOIN resent r ON r.capture = f.capture AND r.conversation_id = f.conversation_id
  AND r.class = f.class AND r.fingerprint = f.fingerprint
