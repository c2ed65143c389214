"""Settings: one declaration per setting (``table``), which also gives ``Settings`` its field
defaults (``fields``); read from flags, environment variables and the TOML file into a frozen
``Settings`` (``settings``), checked (``schema``), shown and written by ``omnichat config``
(``commands``), and the ``talk``/``ptt`` flags built from the same table (``flags``)."""
