-- id: token_spike
-- title: Input tokens far above the conversation's usual
-- severity: low
-- tags: T1496, T1020, impact
-- description: An LLM call whose input tokens are more than 4 times its conversation's median and above 20000, in a conversation of at least 4 calls: a huge tool result (a dumped file tree, a whole log, an exfiltrated file) went to the model.
-- false_positives: Reading a large file on purpose; a conversation that grows steadily (the median follows it, a sudden jump does not).
WITH stats AS (
  SELECT capture, conversation_id, median(input_tokens) AS median_tokens, count(*) AS calls
  FROM llm_calls WHERE input_tokens IS NOT NULL
  GROUP BY capture, conversation_id
)
SELECT c.capture, c.ts_ns, c.proc_key,
       'llm_call:' || CAST(c.call_id AS VARCHAR) || ' sent ' || CAST(c.input_tokens AS VARCHAR)
         || ' input tokens, ' || CAST(round(c.input_tokens / s.median_tokens, 1) AS VARCHAR)
         || ' times the conversation''s median of ' || CAST(s.median_tokens AS VARCHAR) AS summary,
       make_array('llm_call:' || CAST(c.call_id AS VARCHAR), 'conversation:' || CAST(c.conversation_id AS VARCHAR)) AS evidence,
       c.input_tokens, s.median_tokens, c.model
FROM llm_calls c JOIN stats s ON s.capture = c.capture AND s.conversation_id = c.conversation_id
WHERE s.calls >= 4 AND c.input_tokens > 20000 AND c.input_tokens > 4 * s.median_tokens
