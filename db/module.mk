# db/: PostgreSQL through libpq (the only layer that includes libpq-fe.h): connection pool, embedded
# cluster, migrations, repositories, procedure engine, outbox, idempotency and the audit trail.
LIBS += db
DB_MIGRATIONS := $(sort $(wildcard db/migrations/*.sql))
DB_MIGRATIONS_C := $(B)/gen/db/migrations_gen.c
db_SRCS := $(wildcard db/*.c) $(DB_MIGRATIONS_C)

# The migrations are compiled in: the installed smboxd/smctl need no source tree.
$(DB_MIGRATIONS_C): $(DB_MIGRATIONS) db/embed-sql.sh
	@mkdir -p $(@D)
	sh db/embed-sql.sh $@ $(DB_MIGRATIONS)

# `make bench-db`: 1M-eUICC EIS repository, procedure engine and audit appends against pgbench,
# on a throw-away cluster the benchmark starts and removes itself.
.PHONY: bench-db
bench-db: $(B)/bench/bench_db
	@bench/bench-db.sh $(B)
bench: bench-db
