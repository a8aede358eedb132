// `ipvs completion bash`: a bash completion script (source it, or put it in
// /etc/bash_completion.d/ipvs). Completes subcommands, actions, options and
// service kinds; addresses are left to the user.
export const BASH_COMPLETION = `# bash completion for ipvs
_ipvs() {
  local cur prev words cword
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=\${COMP_WORDS[COMP_CWORD-1]}
  local sub=\${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "service destination list save restore apply top exporter check agent fleet connections timeouts daemons completion -A -E -D -C -R -S -a -e -d -L -l -Z --set --start-daemon --stop-daemon -h -v --netns --worker-nice" -- "$cur") )
    return
  fi
  case "$prev" in
    --scheduler|-s) COMPREPLY=( $(compgen -W "rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos" -- "$cur") ); return ;;
    --tun-type) COMPREPLY=( $(compgen -W "ipip gue gre" -- "$cur") ); return ;;
    --start-daemon|--stop-daemon) COMPREPLY=( $(compgen -W "master backup" -- "$cur") ); return ;;
    --netns) COMPREPLY=( $(compgen -W "$(ls /run/netns 2>/dev/null)" -- "$cur") ); return ;;
    --worker-nice) COMPREPLY=( $(compgen -W "0 5 10 15 19" -- "$cur") ); return ;;
    restore|apply|check|--drain-state) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  case "$sub" in
    service)
      if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=( $(compgen -W "add edit delete show --help" -- "$cur") ); return; fi
      if [ "$COMP_CWORD" -eq 3 ]; then COMPREPLY=( $(compgen -W "tcp udp sctp fwmark" -- "$cur") ); return; fi
      COMPREPLY=( $(compgen -W "--scheduler --persistent --netmask --no-persistent --pe --ops --sched-flags --ipv6 --json --help" -- "$cur") ) ;;
    destination)
      if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=( $(compgen -W "add edit delete --help" -- "$cur") ); return; fi
      if [ "$COMP_CWORD" -eq 3 ]; then COMPREPLY=( $(compgen -W "tcp udp sctp fwmark" -- "$cur") ); return; fi
      COMPREPLY=( $(compgen -W "--masq --route --tunnel --weight --upper-threshold --lower-threshold --tun-type --tun-port --tun-csum --tun-nocsum --tun-remcsum --ipv6 --help" -- "$cur") ) ;;
    list) COMPREPLY=( $(compgen -W "--json --stats --rate --thresholds --persistent-conn --tun-info --exact --nosort --names --help" -- "$cur") ) ;;
    save) COMPREPLY=( $(compgen -W "--ipvsadm --json --help" -- "$cur") ) ;;
    restore) COMPREPLY=( $(compgen -W "--replace --atomic --dry-run --help" -- "$cur") $(compgen -f -- "$cur") ) ;;
    apply) COMPREPLY=( $(compgen -W "--prune --dry-run --max-deletes --drain --drain-state --json --help" -- "$cur") $(compgen -f -- "$cur") ) ;;
    top)
      if [ "$prev" = --sort ]; then COMPREPLY=( $(compgen -W "name active inactive conns packets bytes weight" -- "$cur") ); return; fi
      COMPREPLY=( $(compgen -W "--interval --sort --reverse --count --help" -- "$cur") ) ;;
    exporter) COMPREPLY=( $(compgen -W "--listen --port --no-process-metrics --help" -- "$cur") ) ;;
    agent) COMPREPLY=( $(compgen -W "--director --endpoints --prefix --state-file --max-deletes --dry-run --owns --drain --resync --verify-interval --status-ttl --metrics-port --metrics-listen --help" -- "$cur") ) ;;
    fleet)
      if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=( $(compgen -W "put status diff confirm max-deletes --help" -- "$cur") ); return; fi
      COMPREPLY=( $(compgen -W "--director --endpoints --prefix --dry-run --json --help" -- "$cur") $(compgen -f -- "$cur") ) ;;
    check) COMPREPLY=( $(compgen -W "--once --metrics --help" -- "$cur") $(compgen -f -- "$cur") ) ;;
    completion) COMPREPLY=( $(compgen -W "bash" -- "$cur") ) ;;
    *) COMPREPLY=( $(compgen -W "-t -u --sctp-service -f -s -p -M -b --pe -r -g -i -m -w -x -y --tun-type --tun-port --tun-nocsum --tun-csum --tun-remcsum -6 -o -n -c --timeout --daemon --stats --rate --thresholds --persistent-conn --tun-info --nosort --sort --exact --json --mcast-interface --syncid --mcast-group --mcast-port --mcast-ttl --sync-maxlen" -- "$cur") ) ;;
  esac
}
complete -F _ipvs ipvs
`;
