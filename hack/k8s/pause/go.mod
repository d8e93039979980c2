module modelpilot.dev/hack/k8s/pause

go 1.26.0
