# make check-slurm: the experiment plan under a real single-node Slurm
# cluster on localhost (scripts/slurm_check.sh; needs Debian's slurm-wlm
# and munge, skipped with a message when they are missing). About two
# minutes; it starts and stops its own munged, slurmctld and slurmd.
check-slurm: all
	@st=0; PATH="$(CURDIR)/$(B)/bin:$$PATH" RML_TESTDATA="$(CURDIR)/testdata" \
	  bash scripts/slurm_check.sh $(B)/bin || st=$$?; \
	if [ $$st -eq 77 ]; then echo "0 passed, 0 failed, 1 skipped"; exit 0; fi; \
	if [ $$st -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; exit 1; fi

.PHONY: check-slurm

# make check-slurm-tables: the quick profile of the real tables (mk/tables.mk)
# under the same kind of cluster, in a copy of the tree: a task cancelled
# mid-run and --resume, the tables against tables/quick, a failing cell
# (scripts/slurm_check_tables.sh). 207 s on 2 idle cores (15-18 minutes
# on shared ones); .ci/run runs it after check-slurm.
check-slurm-tables: all $(TPLOT)
	@st=0; bash scripts/slurm_check_tables.sh $(B) || st=$$?; \
	if [ $$st -eq 77 ]; then echo "0 passed, 0 failed, 1 skipped"; exit 0; fi; \
	if [ $$st -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; exit 1; fi

.PHONY: check-slurm-tables
