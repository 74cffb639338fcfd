"""`python -m lis.export_history RUN_DIR ...`: the original's g_lis/export_history.py (see lis.history)."""

from lis.history import main

if __name__ == "__main__":
    main()
