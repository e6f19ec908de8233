# Config validation, wildcard constraints and path helpers shared by every rule file.
import json
import sys

from vqaloop.config import validate_config
from vqaloop.errors import UserError

try:
    validate_config(config, source="config")
except UserError as err:
    sys.stderr.write(f"vqaloop: error: {err}\n")
    sys.exit(2)

DATA = config["data_root"]
RUN = config["run"]
RESULTS = f"{config['results_root']}/{RUN}"
LOGS = f"logs/{RUN}"
BENCH = f"{RESULTS}/benchmarks"
CORPUS = config["corpus"]
DATASETS = list(CORPUS["datasets"])
SHARDS = list(range(CORPUS["shards"]))


wildcard_constraints:
    dataset="|".join(DATASETS),
    shard=r"\d+",


def as_json(obj):
    """A config slice as a shell-quoted JSON argument (params hold the slice, so edits rerun the rule)."""
    return "'" + json.dumps(obj, sort_keys=True).replace("'", "'\\''") + "'"
