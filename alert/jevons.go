package alert

import (
	"context"
	"errors"
	"time"
)

func (p *Period) jevons(ctx context.Context, r *Rule, now time.Time) ([]obs, error) {
	return nil, errors.New("jevons rules need package analytics")
}
