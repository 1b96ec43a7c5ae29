"""Loader passed to ``python3 -c`` in the container: argv[1] is JSON with the runtime
sources and the config; each source becomes a module, then the supervisor runs."""

import json
import sys
import types

_args = json.loads(sys.argv[1])
for _name in ("common", "checks", "files", "worker", "supervisor"):
    _mod = types.ModuleType(f"agentkit_sandbox_{_name}")
    sys.modules[_mod.__name__] = _mod
    exec(compile(_args["modules"][_name], f"<sandbox:{_name}>", "exec"), _mod.__dict__)
sys.argv = sys.argv[:1]
sys.modules["agentkit_sandbox_supervisor"].main(_args["config"])
