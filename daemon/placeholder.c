/* placeholder so sl_daemon has a source until the daemon lands */
int sl_daemon_placeholder;
