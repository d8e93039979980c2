"""`modelpilot completion bash|zsh`: a completion script for the people-facing verbs.

    source <(modelpilot completion bash)      # or: modelpilot completion zsh > ~/.zfunc/_modelpilot

Verbs and their flags complete offline; ModelDeployment names complete through kubectl
(`kubectl get mdep -o name`), so they follow the current context and -n.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from modelpilot.cli.main import POD_INTERNAL, VERBS

FLAGS = (
    "-n --namespace --kubeconfig --context -o --output -A --all-namespaces --watch "
    "--for --timeout -f --filename --to --clear --full"
)


def bash_script() -> str:
    verbs = " ".join(v for v in VERBS if v not in POD_INTERNAL)
    return f"""# modelpilot bash completion
_modelpilot() {{
  local cur prev verb
  cur="${{COMP_WORDS[COMP_CWORD]}}"
  prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  verb="${{COMP_WORDS[1]}}"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "{verbs}" -- "$cur")); return
  fi
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "table json yaml" -- "$cur")); return ;;
    --for) COMPREPLY=($(compgen -W "serving promoted" -- "$cur")); return ;;
    -f|--filename|--kubeconfig) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "{FLAGS}" -- "$cur")); return
  fi
  case "$verb" in
    lint|completion|list) ;;
    *) local names
       names="$(kubectl get mdep -o name 2>/dev/null | sed 's|.*/||')"
       COMPREPLY=($(compgen -W "$names" -- "$cur")) ;;
  esac
}}
complete -F _modelpilot modelpilot
"""


def zsh_script() -> str:
    return "#compdef modelpilot\nautoload -U bashcompinit && bashcompinit\n" + bash_script()


def main(argv: Sequence[str]) -> int:
    shell = argv[0] if argv else ""
    if shell not in ("bash", "zsh"):
        print("usage: modelpilot completion bash|zsh", file=sys.stderr)
        return 2
    print(bash_script() if shell == "bash" else zsh_script(), end="")
    return 0
