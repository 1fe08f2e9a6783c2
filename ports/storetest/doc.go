// Package storetest is the one contract suite every ports.Store adapter runs
// (memory, file, JetStream), after Watermill's shared pub/sub tests: one Run,
// with options for what a backend cannot do.
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, cfg storetest.Config) ports.Store {
//			return newStoreFor(t, cfg) // a fresh backend per test
//		}, storetest.WithBackendName("memory"))
//	}
//
// It uses only the standard library's testing package (ports may import only
// domain), so its failures print their own diffs: event ids are shown by
// readable labels ("job1/e3") and lists are compared element by element.
//
// The contract beyond the doc comments of ports is written on Run.
package storetest
