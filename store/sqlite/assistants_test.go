package sqlite

import "testing"

func TestUsedByMessageNamesAFew(t *testing.T) {
	for _, c := range []struct {
		named []string
		count int
		want  string
	}{
		{[]string{"+1"}, 1, "trunk is used by phone number +1; detach it first or delete with force"},
		{[]string{"+1", "+2"}, 2, "trunk is used by phone numbers +1 and +2; detach them first or delete with force"},
		{[]string{"+1", "+2", "+3"}, 3, "trunk is used by phone numbers +1, +2 and +3; detach them first or delete with force"},
		{[]string{"+1", "+2", "+3"}, 5, "trunk is used by phone numbers +1, +2, +3 and 2 more; detach them first or delete with force"},
	} {
		if got := usedByMessage("trunk", c.named, c.count); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}
