package meta

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h := HashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	if h2 := HashPassword("correct horse battery"); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	cases := []struct {
		name, hash, password string
		want                 bool
	}{
		{"right", h, "correct horse battery", true},
		{"wrong", h, "correct horse battery!", false},
		{"empty hash", "", "", false},
		{"dummy", dummyHash, "faultline-dummy-password", true},
		{"damaged", h[:len(h)-4], "correct horse battery", false},
		{"other algorithm", strings.Replace(h, "argon2id", "argon2i", 1), "correct horse battery", false},
		{"huge memory", strings.Replace(h, "m=19456", "m=99999999", 1), "correct horse battery", false},
		{"too long", h, strings.Repeat("x", 2000), false},
	}
	for _, c := range cases {
		if got := CheckPassword(c.hash, c.password); got != c.want {
			t.Errorf("%s: CheckPassword = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for _, c := range []struct {
		pw string
		ok bool
	}{{"short", false}, {"elevenchars", false}, {"twelve chars", true}, {"ééééééééééé", false}, {"éééééééééééé", true}, {strings.Repeat("x", 1025), false}} {
		if err := ValidatePassword(c.pw); (err == nil) != c.ok {
			t.Errorf("%q: %v", c.pw, err)
		}
	}
}

// FuzzParsePHC: a stored hash is parsed at every login; a damaged one
// must fail cleanly, never panic or ask for unbounded work.
func FuzzParsePHC(f *testing.F) {
	f.Add(HashPassword("fuzz seed password"))
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=,t=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.memory > 1<<20 || p.time > 16 || p.threads > 16 || len(p.key) > 64 || len(p.salt) > 64 {
			t.Fatalf("%q: parameters %+v beyond the bounds", s, p)
		}
	})
}
