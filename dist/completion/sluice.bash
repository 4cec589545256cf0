# bash completion for sluice(8)
_sluice() {
	local cur=${COMP_WORDS[COMP_CWORD]} ifaces
	ifaces=$(ls /run/sluice/*.sock 2>/dev/null | sed 's|.*/||; s|\.sock$||')
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "show dump metrics killswitch dns registry genkey pubkey genpsk --version --help" -- "$cur"))
		return
	fi
	case ${COMP_WORDS[1]} in
	show) COMPREPLY=($(compgen -W "-j $ifaces" -- "$cur")) ;;
	dump | metrics) COMPREPLY=($(compgen -W "$ifaces" -- "$cur")) ;;
	dns)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "restore" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "-c $(ls /etc/sluice/*.conf 2>/dev/null | sed 's|.*/||; s|\.conf$||')" -- "$cur"))
		fi ;;
	registry)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "add remove list sessions" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "--registry --ca --cert --key --psk-file" -- "$cur"))
		fi ;;
	killswitch)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "on off status" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "-c $(ls /etc/sluice/*.conf 2>/dev/null | sed 's|.*/||; s|\.conf$||')" -- "$cur"))
		fi ;;
	esac
}
complete -F _sluice sluice
