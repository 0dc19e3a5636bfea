# Sourced by scripts/quickstart.sh and scripts/train-squad-open.sh: one place
# that turns the fusion the recipe chose (fusion.txt: "rrf" or a dense weight
# such as 0.7) into orqa-gateway flags.
#   fusion_flags SPEC   sets the array FUSION_FLAGS
fusion_flags() {
  case "${1:-rrf}" in
    ""|rrf) FUSION_FLAGS=(--fusion rrf) ;;
    *) FUSION_FLAGS=(--fusion weighted --fusion-weight "$1") ;;
  esac
}
