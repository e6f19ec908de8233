"""vqaloop.evaluation"""
