# monitoring.mk - Prometheus for the running iotpipe commands (included by
# the top Makefile).
#
#   make monitoring          Debian's Prometheus on 127.0.0.1:9090 scraping
#                            grafana/prometheus/prometheus.yml's targets
#                            (data under .cache/prometheus); says where to look
#   make monitoring-stop     stop it
#   make monitoring-status   exit 0 when it runs and answers
#   make monitoring-docker   Prometheus and Grafana (:3000) in Docker instead
#
# PROMETHEUS_PORT passes through to scripts/monitoring.sh.
.PHONY: monitoring monitoring-stop monitoring-status monitoring-docker

monitoring:
	bash scripts/monitoring.sh start

monitoring-stop:
	bash scripts/monitoring.sh stop

monitoring-status:
	bash scripts/monitoring.sh status

monitoring-docker:
	docker compose -f grafana/docker-compose.yml up -d
	@echo "Grafana: http://127.0.0.1:3000 (dashboard iotpipe), Prometheus: http://127.0.0.1:9090"
