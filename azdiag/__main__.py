import os

try:
    from azdiag.cli import main
except KeyboardInterrupt:  # Ctrl-C while starting up: the same exit as later, no traceback
    os.write(2, b"azdiag: interrupted\n")
    os._exit(130)  # nothing to clean up yet; a half-imported module must not run its atexit

# guarded: triage's worker processes are spawned and import this module as __mp_main__
if __name__ == "__main__":
    main()
