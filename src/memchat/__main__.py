"""``python -m memchat`` runs the command line."""

from memchat.cli import main

main()
