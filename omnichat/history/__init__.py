"""Past conversations: the transcripts in ``transcript_dir`` read back, listed, shown, resumed.

``records`` reads one transcript line by line (a corrupt line is skipped with a warning),
``summary`` condenses it into one row (and the token totals by kind), ``store`` finds the
conversations of a folder (with a cache of summaries that may be missing or stale),
``render`` prints a listing or one conversation (text, Markdown, JSONL), ``resume`` primes a
new session with the earlier turns, and ``command`` is what ``omnichat history`` runs.
See docs/transcript.md for the format and README's "Conversations that carry on".
"""
