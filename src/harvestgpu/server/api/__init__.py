"""Thin routers: validate, authenticate, call one service function, shape the envelope."""
