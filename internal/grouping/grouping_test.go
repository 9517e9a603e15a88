package grouping_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestSentryHashes: the hash is Sentry's: the MD5 of the contributing
// values, concatenated, in Sentry's tree order. The expected hashes are
// computed here from the values Sentry's rules select, by hand.
func TestSentryHashes(t *testing.T) {
	cases := []struct {
		name, event string
		variant     string
		values      string // concatenated contributing values
	}{
		{"js frames without in-app: system variant; URL-less file names, trimmed functions, eval and <anonymous> frames out",
			`{"platform":"javascript","exception":{"values":[{"type":"Error","value":"bad","stacktrace":{"frames":[
			{"abs_path":"file:///srv/page.html","filename":"/srv/page.html","lineno":9,"in_app":false},
			{"function":"Widget.render","abs_path":"file:///srv/page.html","filename":"/srv/page.html","lineno":4,"in_app":false},
			{"function":"eval","abs_path":"file:///srv/page.html","filename":"/srv/page.html","in_app":false},
			{"function":"Array.forEach","abs_path":"<anonymous>","filename":"<anonymous>","in_app":false},
			{"function":"Object.boom","abs_path":"file:///srv/page.html","filename":"/srv/page.html","lineno":2,"in_app":false}]}}]}}`,
			"system", "page.html" + "page.html" + "render" + "page.html" + "boom" + "Error"},
		{"java: module over file name, lambda function out, in-app frames only",
			`{"platform":"java","exception":{"values":[{"type":"IllegalStateException","value":"x 1","stacktrace":{"frames":[
			{"module":"java.lang.Thread","function":"run","filename":"Thread.java","in_app":false},
			{"module":"com.acme.Jobs","function":"lambda$run$0","filename":"Jobs.java","lineno":7,"in_app":true},
			{"module":"com.acme.Jobs","function":"step","filename":"Jobs.java","lineno":9,"in_app":true}]}}]}}`,
			"app", "com.acme.Jobs" + "com.acme.Jobs" + "step" + "IllegalStateException"},
		{"python: file name, function and context line",
			`{"platform":"python","exception":{"values":[{"type":"KeyError","value":"'a'","stacktrace":{"frames":[
			{"filename":"app/views.py","module":"app.views","function":"show","context_line":"    return  users[key]","in_app":true}]}}]}}`,
			"app", "app.views" + "show" + "return users[key]" + "KeyError"},
		{"no frames: type and parameterized value",
			`{"platform":"go","exception":{"values":[{"type":"*errors.errorString","value":"user 42 not found at 2024-01-02T03:04:05Z"}]}}`,
			"app", "*errors.errorString" + "user <int> not found at <date>"},
		{"message template before formatting",
			`{"platform":"python","logentry":{"message":"Failed to connect to %s","formatted":"Failed to connect to db1","params":["db1"]}}`,
			"default", "Failed to connect to %s"},
		{"custom fingerprint",
			`{"platform":"go","fingerprint":["payments","{{ transaction }}"],"transaction":"/charge","message":"x"}`,
			"custom-fingerprint", "payments" + "/charge"},
		{"hybrid fingerprint",
			`{"platform":"go","fingerprint":["{{ default }}","tenant-a"],"message":"disk full"}`,
			"default", "disk full" + "tenant-a"},
		{"java event-level stack trace without in-app frames: lambda function out",
			`{"platform":"java","stacktrace":{"frames":[{"module":"foo.bar.Baz","function":"lambda$work$1"}]}}`,
			"system", "foo.bar.Baz"},
		{"nothing to group by",
			`{"platform":"other"}`, "fallback", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, r, _ := processEvent(t, []byte(c.event))
			if r.Variant != c.variant || r.Hash != md5hex(c.values) {
				t.Errorf("got %s %s %q, want %s %s %q", r.Variant, r.Hash, strings.Join(r.Values, ""), c.variant, md5hex(c.values), c.values)
			}
		})
	}
}

// TestGroupsAndSplits: pairs of events that Sentry groups, and pairs it
// splits.
func TestGroupsAndSplits(t *testing.T) {
	frame := func(extra string) string {
		return `{"platform":"javascript","exception":{"values":[{"type":"TypeError","value":"x","stacktrace":{"frames":[` + extra + `]}}]}}`
	}
	cases := []struct {
		name   string
		a, b   string
		sameID bool
	}{
		{"script URL: host, query, hash and version stripped",
			frame(`{"abs_path":"https://cdn.a.com/static/js/app.3f9a8b7c.js?v=1","function":"render","in_app":true}`),
			frame(`{"abs_path":"https://cdn.b.com/static/js/v2.1.0/app.1a2b3c4d.min.js","function":"render","in_app":true}`), true},
		{"anonymous JS function does not count",
			frame(`{"abs_path":"/app/a.js","module":"a","function":"<anonymous>","in_app":true},{"abs_path":"/app/a.js","module":"a","function":"run","in_app":true}`),
			frame(`{"abs_path":"/app/a.js","module":"a","function":"?","in_app":true},{"abs_path":"/app/a.js","module":"a","function":"run","in_app":true}`), true},
		{"JS function namespace trimmed (Object.foo vs foo)",
			frame(`{"abs_path":"/app/a.js","module":"a","function":"Object.save","in_app":true}`),
			frame(`{"abs_path":"/app/a.js","module":"a","function":"save","in_app":true}`), true},
		{"different functions split",
			frame(`{"abs_path":"/app/a.js","module":"a","function":"save","in_app":true}`),
			frame(`{"abs_path":"/app/a.js","module":"a","function":"load","in_app":true}`), false},
		{"JS context line counts",
			`{"platform":"node","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"/a.js","module":"a","function":"f","context_line":"throw new E(1)","in_app":true}]}}]}}`,
			`{"platform":"node","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"/a.js","module":"a","function":"f","context_line":"throw new E(2)","in_app":true}]}}]}}`, false},
		{"context line over 120 characters does not count",
			`{"platform":"node","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"/a.js","module":"a","function":"f","context_line":"x = 1;` + strings.Repeat(" ", 130) + `","in_app":true}]}}]}}`,
			`{"platform":"node","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"/a.js","module":"a","function":"f","context_line":"y = 2;` + strings.Repeat(" ", 130) + `","in_app":true}]}}]}}`, true},
		{"Go has no context line in grouping",
			`{"platform":"go","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"module":"main","function":"f","context_line":"a()","in_app":true}]}}]}}`,
			`{"platform":"go","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"module":"main","function":"f","context_line":"b()","in_app":true}]}}]}}`, true},
		{"only in-app frames count when there are any",
			`{"platform":"python","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"module":"lib","function":"x","in_app":false},{"module":"app","function":"f","in_app":true}]}}]}}`,
			`{"platform":"python","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"module":"lib","function":"y","in_app":false},{"module":"app","function":"f","in_app":true}]}}]}}`, true},
		{"node_modules frames are not in-app (built-in rule)",
			`{"platform":"node","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"/srv/node_modules/pg/a.js","module":"pg:a","function":"q"},{"filename":"/srv/app.js","module":"app","function":"f","in_app":true}]}}]}}`,
			`{"platform":"node","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"/srv/node_modules/pg/b.js","module":"pg:b","function":"r","in_app":true},{"filename":"/srv/app.js","module":"app","function":"f","in_app":true}]}}]}}`, true},
		{"chained exceptions: the whole chain counts",
			`{"platform":"python","exception":{"values":[{"type":"KeyError","value":"a"},{"type":"ValueError","value":"b"}]}}`,
			`{"platform":"python","exception":{"values":[{"type":"IndexError","value":"a"},{"type":"ValueError","value":"b"}]}}`, false},
		{"Java lambda and generated classes",
			`{"platform":"java","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"module":"a.B$$Lambda$12/0x01","function":"accept","in_app":true},{"module":"a.B","function":"lambda$x$0","in_app":true},{"module":"a.C$$EnhancerBySpringCGLIB$$ab12","function":"go","in_app":true}]}}]}}`,
			`{"platform":"java","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"module":"a.B$$Lambda$99/0x7f","function":"accept","in_app":true},{"module":"a.B","function":"lambda$x$3","in_app":true},{"module":"a.C$$EnhancerBySpringCGLIB$$ff00","function":"go","in_app":true}]}}]}}`, true},
		{"Ruby blocks and ERB suffixes",
			`{"platform":"ruby","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"a.rb","function":"block (2 levels) in run","in_app":true},{"filename":"v.erb","function":"_v_erb__1234_5678","in_app":true}]}}]}}`,
			`{"platform":"ruby","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"a.rb","function":"block in run","in_app":true},{"filename":"v.erb","function":"_v_erb__9999_0000","in_app":true}]}}]}}`, true},
		{"recursion counts once",
			`{"platform":"python","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"module":"m","function":"f","lineno":3,"in_app":true}]}}]}}`,
			`{"platform":"python","exception":{"values":[{"type":"E","stacktrace":{"frames":[{"module":"m","function":"f","lineno":3,"in_app":true},{"module":"m","function":"f","lineno":3,"in_app":true}]}}]}}`, true},
		{"threads: the crashed thread counts, the others do not",
			`{"platform":"java","threads":{"values":[{"id":1,"crashed":true,"stacktrace":{"frames":[{"module":"a.B","function":"run","in_app":true}]}},{"id":2,"stacktrace":{"frames":[{"module":"x.Y","function":"idle","in_app":true}]}}]}}`,
			`{"platform":"java","threads":{"values":[{"id":7,"stacktrace":{"frames":[{"module":"z.Z","function":"poll","in_app":true}]}},{"id":1,"crashed":true,"stacktrace":{"frames":[{"module":"a.B","function":"run","in_app":true}]}}]}}`, true},
		{"message parameters",
			`{"message":"Order 1234 for bob@example.com failed after 3.5s from 10.0.0.1 (id 550e8400-e29b-41d4-a716-446655440000, key=\"abc\")"}`,
			`{"message":"Order 98 for eve@example.org failed after 12.25s from 192.168.1.20 (id 123e4567-e89b-12d3-a456-426614174000, key=\"xyz\")"}`, true},
		{"different messages split",
			`{"message":"disk full"}`, `{"message":"disk almost full"}`, false},
		{"exception value counts without frames",
			`{"exception":{"values":[{"type":"E","value":"connection refused"}]}}`,
			`{"exception":{"values":[{"type":"E","value":"connection reset"}]}}`, false},
		{"synthetic exception type does not count",
			`{"platform":"javascript","exception":{"values":[{"type":"Error","value":"a","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"filename":"/a.js","module":"a","function":"f","in_app":true}]}}]}}`,
			`{"platform":"javascript","exception":{"values":[{"type":"Other","value":"b","mechanism":{"synthetic":true},"stacktrace":{"frames":[{"filename":"/a.js","module":"a","function":"f","in_app":true}]}}]}}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, a, _ := processEvent(t, []byte(c.a))
			_, b, _ := processEvent(t, []byte(c.b))
			if (a.Hash == b.Hash) != c.sameID {
				t.Errorf("same issue = %v, want %v\n a: %s %v\n b: %s %v", a.Hash == b.Hash, c.sameID, a.Variant, a.Values, b.Variant, b.Values)
			}
		})
	}
}

func TestNormalizeMessage(t *testing.T) {
	cases := []struct{ in, want string }{
		{"user 42 not found", "user <int> not found"},
		{"took 3.25s", "took <duration>"},
		{"timeout after 250ms", "timeout after <duration>"},
		{"value -17 is negative", "value <int> is negative"},
		{"ratio 0.75 too high", "ratio <float> too high"},
		{"mail bob.smith+x@example.co.uk bounced", "mail <email> bounced"},
		{"GET https://api.example.com/v1/users?id=3 failed", "GET <url> failed"},
		{"connect to db1.example.com refused", "connect to <hostname> refused"},
		{"from 192.168.0.12 and 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "from <ip> and <ip>"},
		{"at fe80::1ff:fe23:4567:890a%eth0", "at <ip>:fe23:<int>:890a%eth0"},
		{"Foo::bar() is not an address", "Foo::bar() is not an address"},
		{"id 550e8400-e29b-41d4-a716-446655440000", "id <uuid>"},
		{"sha da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha <sha1>"},
		{"md5 d41d8cd98f00b204e9800998ecf8427e", "md5 <md5>"},
		{"at 2024-03-05T10:11:12.123Z", "at <date>"},
		{"on 2024-03-05", "on <date>"},
		{"at 10:45 and 9:05 PM", "at <date> and <date>"},
		{"ptr 0x7ffee3c9a2f0", "ptr <hex>"},
		{"token deadbeef12 and DEADBEEF12", "token <hex> and <hex>"},
		{"word deadbeef stays", "word deadbeef stays"},
		{"commit 3f9a8b7 deployed", "commit <git_sha> deployed"},
		{`key='abc' name="x y"`, "key=<quoted_str> name=<quoted_str>"},
		{`plain 'quoted' string`, `plain 'quoted' string`},
		{"flag=true other=False", "flag=<bool> other=<bool>"},
		{"big 12345678901 number", "big <hex> number"},
		{"traceparent 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "traceparent <traceparent>"},
		{"first\n\nsecond\nthird", "first\nsecond..."},
		{"", ""},
	}
	for _, c := range cases {
		if got := grouping.NormalizeMessage(c.in); got != c.want {
			t.Errorf("NormalizeMessage(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestJSModule(t *testing.T) {
	cases := []struct{ in, want string }{
		{"http://google.com/js/v1.0/foo/bar/baz.js", "foo/bar/baz"},
		{"https://cdn.example.com/static/js/app.3f9a8b7c.js?v=12#x", "app"},
		{"https://x.com/assets/vendor.min.js", "assets/vendor"},
		{"https://x.com/build/da39a3ee5e6b4b0d3255bfef95601890afd80709/app/main.js", "app/main"},
		{"app:///main.jsbundle", "main"},
		{"webpack:///./src/components/Cart.tsx", "src/components/Cart"},
		{"https://x.com/", "<unknown module>"},
		{"", "<unknown module>"},
	}
	for _, c := range cases {
		if got := grouping.JSModule(c.in); got != c.want {
			t.Errorf("JSModule(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestGroupingInfo: the grouping-info rendering has Sentry's keys, hashes
// only for contributing variants, and the component tree.
func TestGroupingInfo(t *testing.T) {
	e, r, _ := processEvent(t, []byte(`{"platform":"python","exception":{"values":[{"type":"KeyError","value":"'a'",
	"stacktrace":{"frames":[{"module":"lib","function":"get","in_app":false},{"module":"app","function":"show","in_app":true}]}}]}}`))
	info := grouping.GroupingInfo(r, r.Info())
	b, _ := json.Marshal(info)
	var got map[string]struct {
		Key, Type, Description string
		Hash                   *string
		Contributes            bool
		HashMismatch           bool
		Component              struct {
			ID          string
			Contributes bool
			Values      []json.RawMessage
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	app, sys := got["app_exception_stacktrace"], got["system_exception_stacktrace"]
	if app.Hash == nil || *app.Hash != r.Hash || !app.Contributes || app.Type != "component" ||
		app.Description != "exception stacktrace — in-app frames" || app.Component.ID != "app" || app.HashMismatch {
		t.Errorf("app variant: %s", b)
	}
	if sys.Hash == nil || *sys.Hash == r.Hash || sys.Description != "exception stacktrace — all frames" {
		t.Errorf("system variant: %s", b)
	}
	if e.Grouping != nil {
		t.Error("Compute must not write into the event")
	}
	if r.Strategy != grouping.StrategyStacktrace || r.Variant != "app" {
		t.Errorf("strategy %s variant %s", r.Strategy, r.Variant)
	}
}

// TestFingerprintVariables resolves Sentry's fingerprint variables.
func TestFingerprintVariables(t *testing.T) {
	raw := `{"platform":"python","transaction":"/checkout","level":"warning","logger":"billing","tags":{"region":"eu"},
	"exception":{"values":[{"type":"KeyError","value":"'sku'","stacktrace":{"frames":[{"module":"shop.cart","function":"add","filename":"cart.py","abs_path":"/srv/shop/cart.py","in_app":true}]}}]},
	"fingerprint":["{{ transaction }}","{{type}}","{{ error.value }}","{{ function }}","{{ module }}","{{ level }}","{{ logger }}","{{ tags.region }}","{{ tags.nope }}","{{ message }}","lit"]}`
	e, err := event.Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	r := grouping.Compute(e)
	want := []string{"/checkout", "KeyError", "'sku'", "add", "shop.cart", "warning", "billing", "eu", "<no-value-for-tag-nope>", "'sku'", "lit"}
	if strings.Join(r.Values, "|") != strings.Join(want, "|") || r.Strategy != grouping.StrategyCustom {
		t.Errorf("got %q (%s), want %q", r.Values, r.Strategy, want)
	}
}

// aggregate builds an AggregateError-style exception group, as the
// JavaScript SDK sends one: the group is the root (exception_id 0), its
// children follow, each with a parent_id.
func aggregate(children ...string) string {
	var b strings.Builder
	b.WriteString(`{"platform":"node","exception":{"values":[`)
	for i, typ := range children {
		b.WriteString(`{"type":"` + typ + `","value":"v` + strings.Repeat("x", i) + `","mechanism":{"type":"chained","source":"errors[` +
			string(rune('0'+i)) + `]","exception_id":` + string(rune('1'+i)) + `,"parent_id":0},` +
			`"stacktrace":{"frames":[{"filename":"/a.js","module":"a","function":"fail` + typ + `","in_app":true}]}},`)
	}
	b.WriteString(`{"type":"AggregateError","value":"All promises were rejected","mechanism":{"type":"generic","exception_id":0,"is_exception_group":true},` +
		`"stacktrace":{"frames":[{"filename":"/a.js","module":"a","function":"main","in_app":true}]}}]}}`)
	return b.String()
}

// TestExceptionGroups: a group of one failure, however often repeated,
// groups and is titled as that failure; a group of different failures
// groups by one of each and the group.
func TestExceptionGroups(t *testing.T) {
	_, two, d := processEvent(t, []byte(aggregate("TypeError", "TypeError")))
	_, three, _ := processEvent(t, []byte(aggregate("TypeError", "TypeError", "TypeError")))
	_, mixed, _ := processEvent(t, []byte(aggregate("TypeError", "RangeError")))
	_, mixed2, _ := processEvent(t, []byte(aggregate("RangeError", "TypeError", "TypeError")))
	if two.Hash != three.Hash {
		t.Errorf("repeated failure split: %v vs %v", two.Values, three.Values)
	}
	if want := "a" + "failTypeError" + "TypeError"; strings.Join(two.Values, "") != want {
		t.Errorf("values %q, want %q", strings.Join(two.Values, ""), want)
	}
	// Sentry builds the tree from the end of the list: the last child comes first.
	if d.Title != "TypeError: vx" || two.MainExceptionID == nil || *two.MainExceptionID != 2 {
		t.Errorf("title %q, main exception %v", d.Title, two.MainExceptionID)
	}
	if mixed.Hash == two.Hash || mixed.Hash != mixed2.Hash {
		t.Errorf("mixed groups: %v / %v / %v", mixed.Values, mixed2.Values, two.Values)
	}
	// Without exception ids the list is taken as it is.
	plain := strings.ReplaceAll(aggregate("TypeError", "TypeError"), `"exception_id"`, `"x"`)
	if _, r, _ := processEvent(t, []byte(plain)); r.Hash == two.Hash || r.MainExceptionID != nil {
		t.Errorf("a list without ids was pruned: %v", r.Values)
	}
}
