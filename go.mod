module github.com/jevonsdev/jevons

go 1.26.8

require (
	github.com/dlclark/regexp2/v2 v2.13.0
	go.yaml.in/yaml/v3 v3.0.6
)
