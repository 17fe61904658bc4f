-- name: llm_api_hosts
-- description: Host names of LLM APIs, as LIKE patterns, with the provider. With `llm_endpoints` they tell "talking to the model" from egress.
SELECT * FROM (VALUES
  ('api.anthropic.com', 'anthropic'),
  ('api.openai.com', 'openai'),
  ('%.openai.azure.com', 'azure_openai'),
  ('generativelanguage.googleapis.com', 'gemini'),
  ('%aiplatform.googleapis.com', 'vertex'),
  ('bedrock-runtime.%.amazonaws.com', 'bedrock'),
  ('api.mistral.ai', 'mistral'),
  ('api.groq.com', 'groq'),
  ('openrouter.ai', 'openrouter'),
  ('api.deepseek.com', 'deepseek'),
  ('api.x.ai', 'xai'),
  ('api.together.xyz', 'together'),
  ('api.fireworks.ai', 'fireworks'),
  ('dashscope.aliyuncs.com', 'qwen'),
  ('dashscope-intl.aliyuncs.com', 'qwen'),
  ('chatgpt.com', 'openai')
) AS t(pattern, provider)
