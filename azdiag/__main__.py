from azdiag.cli import main

# guarded: triage's worker processes are spawned and import this module as __mp_main__
if __name__ == "__main__":
    main()
