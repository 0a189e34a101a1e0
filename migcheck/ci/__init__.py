"""CI property checking: what ``[tool.migcheck]`` (or migcheck.toml) lists, checked with its
expected verdicts, reported as text, JUnit XML and SARIF 2.1.0.

``migcheck ci`` and the pytest plugin (``pytest --migcheck``) both read the configuration
with `load_config` and run it with `run_check`.
"""

from .checks import CheckRun, all_results, run_check, run_checks, summary_text
from .config import CheckSpec, Config, ConfigError, find_config, load_config
from .junit import junit_xml
from .sarif import sarif_log

__all__ = ["CheckRun", "CheckSpec", "Config", "ConfigError", "all_results", "find_config", "junit_xml",
           "load_config", "run_check", "run_checks", "sarif_log", "summary_text"]
