"""One module per ``parse-vos`` subcommand (see ``parse_vos_ros.cli``)."""
