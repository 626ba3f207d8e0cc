package history

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/jevonsdev/jevons/schemas"
)

// Ledger remembers which events (tenant/event_id) an import has sent, so a
// second import of the same history sends nothing again.
type Ledger interface {
	Seen(ctx context.Context, keys []string) (map[string]bool, error)
	Record(ctx context.Context, source string, keys []string) error
}

// Stats count an import's events by fate.
type Stats struct {
	Events          int `json:"events"`           // valid events read
	Sent            int `json:"sent"`             // produced and acknowledged
	AlreadyImported int `json:"already_imported"` // in the ledger: not sent again
	DuplicateInFile int `json:"duplicate_in_file"`
}

// Importer sends history through a Producer, skipping what the ledger knows.
type Importer struct {
	Producer *Producer
	Ledger   Ledger
	Source   string // recorded with each key: the file name and format
	Batch    int    // events per ledger round trip, default 1000
}

// Import sends the events in batches: look the batch up in the ledger,
// produce the unseen ones, wait for Kafka's acknowledgement, record them.
// A crash between the acknowledgement and the record re-sends at most one
// batch on the next run; the aggregator counts such a re-send once while it
// is within its dedup horizon.
func (im *Importer) Import(ctx context.Context, evs []schemas.Event) (Stats, error) {
	st := Stats{Events: len(evs)}
	n := im.Batch
	if n <= 0 {
		n = 1000
	}
	inFile := make(map[string]bool, len(evs))
	for start := 0; start < len(evs); start += n {
		batch := evs[start:min(start+n, len(evs))]
		keys := make([]string, 0, len(batch))
		for i := range batch {
			keys = append(keys, batch[i].Tenant+"/"+batch[i].EventID) // tenants have no "/"
		}
		seen, err := im.Ledger.Seen(ctx, keys)
		if err != nil {
			return st, err
		}
		var sent []string
		for i := range batch {
			k := keys[i]
			switch {
			case inFile[k]:
				st.DuplicateInFile++
				continue
			case seen[k]:
				st.AlreadyImported++
				inFile[k] = true
				continue
			}
			inFile[k] = true
			if err := im.Producer.Emit(ctx, &batch[i]); err != nil {
				return st, fmt.Errorf("event %s: %w", batch[i].EventID, err)
			}
			sent = append(sent, k)
		}
		if err := im.Producer.Flush(ctx); err != nil {
			return st, err
		}
		if err := im.Ledger.Record(ctx, im.Source, sent); err != nil {
			return st, err
		}
		st.Sent += len(sent)
	}
	return st, nil
}

// ClickHouseLedger keeps the ledger in the table imported_events.
type ClickHouseLedger struct {
	Conn driver.Conn
	DB   string
	Now  func() time.Time
}

// Seen returns the keys already recorded.
func (l *ClickHouseLedger) Seen(ctx context.Context, keys []string) (map[string]bool, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	q := make([]string, len(keys))
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	for i, k := range keys {
		q[i] = "'" + r.Replace(k) + "'"
	}
	rows, err := l.Conn.Query(ctx, "SELECT key FROM "+l.DB+".imported_events WHERE key IN ("+strings.Join(q, ",")+")")
	if err != nil {
		return nil, fmt.Errorf("read import ledger: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("read import ledger: %w", err)
		}
		seen[k] = true
	}
	return seen, rows.Err()
}

// Record adds keys to the ledger.
func (l *ClickHouseLedger) Record(ctx context.Context, source string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	b, err := l.Conn.PrepareBatch(ctx, "INSERT INTO "+l.DB+".imported_events (key, source, imported_at)")
	if err != nil {
		return fmt.Errorf("write import ledger: %w", err)
	}
	now := l.Now().UTC()
	for _, k := range keys {
		if err := b.Append(k, source, now); err != nil {
			return fmt.Errorf("write import ledger: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write import ledger: %w", err)
	}
	return nil
}
