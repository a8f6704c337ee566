"""The one command-line convention of every `kexue` command, in three modules this one gathers:

- kexue/cli_errors.py: errors, exit codes, `fail`/`warn`/`say`, `guard`/`adopt` (one plain line on
  stderr; 2 for a user's mistake, 1 at run time, 130/143 on a signal);
- kexue/cli_settings.py: `--config FILE` (JSON or TOML), `--set key=value`, `--print-config`;
- kexue/cli_run.py: `start_run(opts, ...)`, the preamble of a training command (the run folder, its
  settings on a resume, `--device`/`--precision`/`--log`), under torchrun too;
and kexue/cli_options.py, the shared options themselves (`@train_options(topic)`). A topic's cli.py
imports `kexue.cli_common as C`. docs/ARCHITECTURE.md, "The command-line convention".
"""
from kexue.cli_errors import (EXTRAS, USER_ERRORS, adopt, click_exceptions, debug, extra_of, fail, guard,  # noqa: F401
                              is_main, say, set_debug, warn)
from kexue.cli_options import OPTIONS, RunOptions, alias, either, option, run_and_out, train_options  # noqa: F401
from kexue.cli_run import given, rank_zero_first, run_folder, start_run, with_device  # noqa: F401
from kexue.cli_settings import print_config, read_config_file, settings, settings_rows  # noqa: F401
from kexue.config import merge  # noqa: F401
