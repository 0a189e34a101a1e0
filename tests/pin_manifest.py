"""Print the current verdicts and state counts of the bundled models as a manifest draft.

The committed manifest (models/library/manifest.json) is reviewed by hand against the
protocol's reasoning; this script only saves typing when a model changes on purpose:
    python tests/pin_manifest.py > /tmp/draft.json && diff <(...) models/library/manifest.json
"""

import json

from migcheck.checker.explicit import explore
from migcheck.models.library import BUNDLED, bundled
from migcheck.models.model import build

EXTRA_PARAMS = {"two-phase-commit": [{"rms": 5}]}


def pin() -> dict:
    out = {}
    for name in BUNDLED:
        model = bundled(name)
        configs = [{}, *EXTRA_PARAMS.get(name, [])]
        entries = []
        for params in configs:
            variants = {}
            shared = dict(build(model, params).params)
            for vname, cls in model.variants().items():
                system = build(cls, params)
                ex = explore(system)
                own = {k: v for k, v in system.params if shared[k] != v}  # the variant's own defaults
                variants[vname] = {
                    **({"params": own} if own else {}),
                    "states": ex.stats.states,
                    "verdicts": {k: v.verdict for k, v in ex.verdicts.items()},
                }
            entries.append({"params": shared, "variants": variants})
        out[name] = entries
    return out


if __name__ == "__main__":
    print(json.dumps(pin(), indent=2))
