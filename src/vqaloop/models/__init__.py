"""vqaloop.models"""
