// A stand-in for the Tencent Cloud VPC SDK that flannel's tencentvpc backend
// imports: the module proxy refuses the version flannel asks for, and the
// benchmark only runs flannel's vxlan backend. See tools/flannel/README.md.
module github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc

go 1.26.0
