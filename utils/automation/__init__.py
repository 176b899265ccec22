"""fullprocess.py's automation: new sources, decisions, and acting on them."""
