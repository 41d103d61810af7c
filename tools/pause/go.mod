module weft.dev/tools/pause

go 1.22
