"""Run folders: each records what made it, is never overwritten by accident, and resumes as it was trained.

One concept, two files: kexue/runs/folder.py (open or create the folder, the refusals, run.json and its
sessions, the run's task and data) and kexue/runs/settings.py (the one reader and writer of a run's
settings, config.json, and of the `--set`s a resume may take). The format is docs/ARCHITECTURE.md's
"The run folder". Loading a run's model: `kexue.pretrained.from_pretrained(folder)`, which the run's
command (run.json) tells which model to build.
"""
from kexue.runs.folder import (RUN_FILE, RUN_MARKS, Run, RunFolderError, check_command, default_out, open_run,
                               read_run, read_run_folder, record_session, recorded_sets)
from kexue.runs.settings import (OLD_GPLINKER_FILE, changeable_on_resume, check_unchanged, load_settings,
                                 read_settings, resume_settings, write_settings)

__all__ = ["OLD_GPLINKER_FILE", "RUN_FILE", "RUN_MARKS", "Run", "RunFolderError", "changeable_on_resume",
           "check_command", "check_unchanged", "default_out", "load_settings", "open_run", "read_run", "read_run_folder",
           "read_settings", "record_session", "recorded_sets", "resume_settings", "write_settings"]
