package grouping

import (
	"slices"
	"strings"

	"github.com/faultline/faultline/internal/event"
)

// filterExceptionGroups is Sentry's handling of exception groups (RFC
// 0079; Python's ExceptionGroup, JavaScript's AggregateError): when the
// chain is a tree (each exception's mechanism has an exception_id and a
// parent_id), only its distinct "top-level" exceptions count, so that a
// group of one failure repeated groups as that failure. It returns the
// indexes of the exceptions that count and, when one exception stands
// for the group, its exception_id (the event's main exception).
func filterExceptionGroups(e *event.Event, per []map[string]*Component) ([]int, *int) {
	exs := e.Exception.Values
	all := make([]int, len(exs))
	for i := range all {
		all[i] = i
	}
	if len(exs) <= 1 {
		return all, nil
	}
	// Sentry keeps the whole list for Python SDK 3.x events, whose
	// grouping changed with that SDK version.
	if e.Platform == "python" && e.SDK != nil && strings.HasPrefix(e.SDK.Version, "3") {
		return all, nil
	}
	type treeNode struct {
		ex       int // index, -1 when only referenced as a parent
		children []int
	}
	tree := map[int]*treeNode{}
	get := func(id int) *treeNode {
		n, ok := tree[id]
		if !ok {
			n = &treeNode{ex: -1}
			tree[id] = n
		}
		return n
	}
	for i := len(exs) - 1; i >= 0; i-- {
		m := exs[i].Mechanism
		if m == nil || m.ExceptionID == nil || m.ParentID != nil && *m.ParentID == *m.ExceptionID {
			return all, nil
		}
		if n, ok := tree[*m.ExceptionID]; ok && n.ex >= 0 {
			return all, nil // a duplicate id: not a tree
		}
		get(*m.ExceptionID).ex = i
		if m.ParentID != nil {
			p := get(*m.ParentID)
			p.children = append(p.children, i)
		}
	}
	children := func(i int) []int {
		if n := tree[*exs[i].Mechanism.ExceptionID]; n != nil {
			return n.children
		}
		return nil
	}
	root := tree[0]
	if root == nil || root.ex < 0 {
		return all, nil
	}
	var top []int
	visited := map[int]bool{}
	var walk func(i int) bool
	walk = func(i int) bool {
		if visited[i] {
			return false // a cycle
		}
		visited[i] = true
		if !exs[i].Mechanism.IsExceptionGroup {
			top = append(top, i)
			return true
		}
		for _, c := range children(i) {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	if !walk(root.ex) || len(top) == 0 {
		return all, nil
	}
	slices.SortStableFunc(top, func(a, b int) int { return strings.Compare(exs[b].Type, exs[a].Type) })
	// Distinct by their grouping components; as Python's groupby, only
	// neighbours (after the sort) collapse.
	key := func(i int) string {
		return hashValues(per[i]["app"].appendValues(nil)) + hashValues(per[i]["system"].appendValues(nil))
	}
	var distinct []int
	for _, i := range top {
		if len(distinct) == 0 || key(distinct[len(distinct)-1]) != key(i) {
			distinct = append(distinct, i)
		}
	}
	if len(distinct) == 1 {
		// The first path: from that exception down its first children.
		path := []int{distinct[0]}
		seen := map[int]bool{distinct[0]: true}
		for c := children(distinct[0]); len(c) > 0 && !seen[c[0]]; c = children(c[0]) {
			seen[c[0]] = true
			path = append(path, c[0])
		}
		id := *exs[distinct[0]].Mechanism.ExceptionID
		return path, &id
	}
	return append(distinct, root.ex), nil
}

// overrideMainException is Sentry's _maybe_override_main_exception_id for
// a chain: React 19's recoverable errors are titled by their cause, and
// RxJava's wrappers by the exception they wrap.
func overrideMainException(exs []event.Exception, idx []int) *int {
	if len(idx) == 0 {
		return nil
	}
	first, last := &exs[idx[0]], &exs[idx[len(idx)-1]]
	if first.Type == "Error" && (string(first.Value) == "There was an error during concurrent rendering but React was able to recover by instead synchronously rendering the entire root." ||
		string(first.Value) == "There was an error while hydrating but React was able to recover by instead client rendering from the nearest Suspense boundary.") &&
		last.Mechanism != nil && last.Mechanism.Source == "cause" && last.Mechanism.ExceptionID != nil {
		id := *last.Mechanism.ExceptionID
		return &id
	}
	if len(idx) < 2 {
		return nil
	}
	var wrapper *int
	for _, i := range idx {
		ex := &exs[i]
		if ex.Module == "io.reactivex.rxjava3.exceptions" && ex.Mechanism != nil && ex.Mechanism.Type == "UncaughtExceptionHandler" &&
			(ex.Type == "OnErrorNotImplementedException" || ex.Type == "CompositeException" || ex.Type == "UndeliverableException") {
			wrapper = ex.Mechanism.ExceptionID
			break
		}
	}
	if wrapper == nil {
		return nil
	}
	for _, i := range idx {
		if m := exs[i].Mechanism; m != nil && m.ParentID != nil && *m.ParentID == *wrapper && m.ExceptionID != nil {
			id := *m.ExceptionID
			return &id
		}
	}
	return nil
}
