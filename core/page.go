package core

import "context"

// Page selects a slice of a list, oldest first.
type Page struct {
	Limit  int
	Offset int
}

// Paging bounds.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 100
)

// Normalize applies the defaults and checks the bounds.
func (p Page) Normalize() (Page, error) {
	if p.Limit == 0 {
		p.Limit = DefaultPageLimit
	}
	if p.Limit < 1 || p.Limit > MaxPageLimit {
		return p, FieldError(CodeInvalidRequest, "limit", "limit must be between 1 and %d", MaxPageLimit)
	}
	if p.Offset < 0 {
		return p, FieldError(CodeInvalidRequest, "offset", "offset must not be negative")
	}
	return p, nil
}

// eachPage calls fn for every object of a paged list.
func eachPage[T any](ctx context.Context, list func(context.Context, Page) ([]T, int, error), fn func(T)) error {
	for p := (Page{Limit: MaxPageLimit}); ; p.Offset += p.Limit {
		items, total, err := list(ctx, p)
		if err != nil {
			return err
		}
		for _, it := range items {
			fn(it)
		}
		if len(items) == 0 || p.Offset+len(items) >= total {
			return nil
		}
	}
}
